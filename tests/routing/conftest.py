"""Fixtures of the routing tests: routers over real guests, and a real gRPC sidecar."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_tools import protoc

from bridge import GuestModule, load
from bridge.config import BridgeConfig, RouteConfig
from bridge.errors import GuestError
from bridge.routing import Router

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


class GuestServicer(grpc.GenericRpcHandler):
    """A minimal gRPC server of a module's methods: what `bridge serve` does, for tests."""

    def __init__(self, module: GuestModule) -> None:
        self.module = module
        self.calls = 0

    def service(
        self, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        method = details.method.lstrip("/")
        if method not in self.module.methods:
            return None

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls += 1
            try:
                return self.module.call(method, request)
            except GuestError as exc:
                status = next(c for c in grpc.StatusCode if c.value[0] == exc.code)
                context.abort(status, exc.status_message)

        return grpc.unary_unary_rpc_method_handler(handle)


@pytest.fixture
def sidecar(go_pricing_wasm: Path, tmp_path: Path) -> Iterator[tuple[str, GuestServicer]]:
    """A real grpcio server of the Go pricing guest on a unix socket; its target."""
    module = load(go_pricing_wasm)
    servicer = GuestServicer(module)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((servicer,))
    socket = tmp_path / "sidecar.sock"
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    try:
        yield f"unix:{socket}", servicer
    finally:
        server.stop(grace=None).wait(5)
        module.close()
