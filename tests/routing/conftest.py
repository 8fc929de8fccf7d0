"""Fixtures of the routing tests: routers over real guests, and a real gRPC sidecar."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from grpc_tools import protoc

from bridge import load
from bridge.config import BridgeConfig, RouteConfig
from bridge.routing import Router
from tests.grpc_server import GuestServicer, serve_modules

HERE = Path(__file__).resolve().parent
PRICING = "pricing.v1.Pricing"
FAULTY = "faulty.v1.Faulty"

MakeRouter = Callable[..., Router]


@pytest.fixture(scope="session")
def faulty_pb2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    out = tmp_path_factory.mktemp("faulty-pb2")
    proto = HERE / "proto" / "faulty" / "v1" / "faulty.proto"
    assert protoc.main(["protoc", f"-I{HERE / 'proto'}", f"--python_out={out}", str(proto)]) == 0
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("faulty.v1.faulty_pb2")
    finally:
        sys.path.remove(str(out))


@pytest.fixture
def make_router(
    go_pricing_wasm: Path, faulty_go_wasm: Path, pricing_pb2: ModuleType, faulty_pb2: ModuleType
) -> Iterator[MakeRouter]:
    """Routers whose services are the Go pricing and faulty guests; closed afterwards."""
    made: list[Router] = []

    def make(
        routes: dict[str, RouteConfig] | None = None,
        *,
        services: dict[str, Path] | None = None,
        **settings: Any,
    ) -> Router:
        config = BridgeConfig(
            services={PRICING: go_pricing_wasm, FAULTY: faulty_go_wasm}
            if services is None
            else services,
            routes=routes or {},
            **settings,
        )
        router = Router(config, name=f"test{len(made)}")
        made.append(router)
        return router

    yield make
    for router in made:
        router.close()


@pytest.fixture
def sidecar(go_pricing_wasm: Path, tmp_path: Path) -> Iterator[tuple[str, GuestServicer]]:
    """A real grpcio server of the Go pricing guest on a unix socket; its target."""
    with load(go_pricing_wasm) as module, serve_modules([module], tmp_path) as served:
        yield served
