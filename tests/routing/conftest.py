"""Fixtures of the routing tests: routers over real guests, and real gRPC servers: a
sidecar of the pricing guest, and scripted ones that fail or wait on cue."""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_tools import protoc

from bridge import load
from bridge.config import BridgeConfig, Mode, RouteConfig, ShadowConfig
from bridge.routing import Router
from tests.grpc_server import GuestServicer, serve_generic, serve_modules

HERE = Path(__file__).resolve().parent
PRICING = "pricing.v1.Pricing"
FAULTY = "faulty.v1.Faulty"

MakeRouter = Callable[..., Router]
#: How long a Gate holds a call at most (a test releases it long before).
GATE_WAIT_S = 30.0


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


#: Answers a call: (method, request, context, how many calls the method has had).
Handler = Callable[[str, bytes, grpc.ServicerContext, int], bytes]


class Scripted(grpc.GenericRpcHandler):
    """Any method, answered by `handler`; counts the calls each method received."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def service(
        self, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        method = details.method.lstrip("/")

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.calls[method] += 1
                nth = self.calls[method]
            return self.handler(method, request, context, nth)

        return grpc.unary_unary_rpc_method_handler(handle)


@contextlib.contextmanager
def scripted_server(handler: Handler, folder: Path) -> Iterator[tuple[str, Scripted]]:
    """A real grpcio server on a unix socket whose every method runs `handler`."""
    scripted = Scripted(handler)
    with serve_generic(scripted, folder / "scripted.sock") as target:
        yield target, scripted


class Gate:
    """A handler (of scripted_server) whose calls wait for `release`, then answer
    NormalizeSku; `entered` and `finished` say how far a call got."""

    def __init__(self, pricing_pb2: ModuleType) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.answer: bytes = pricing_pb2.NormalizeSkuResponse(sku="PEAR").SerializeToString()

    def __call__(
        self, method: str, request: bytes, context: grpc.ServicerContext, nth: int
    ) -> bytes:
        self.entered.set()
        self.release.wait(GATE_WAIT_S)
        self.finished.set()
        return self.answer


@dataclass(frozen=True)
class EveryMode:
    """A router whose routes answer in every way there is, and its routed functions:
    `normalize` in shadow mode (the Go port differs on runs of spaces), `panic` in wasm
    mode with fallback (the guest panics: Python answers), `echo` in wasm mode."""

    router: Router
    normalize: Callable[[str], str]
    panic: Callable[[str], str]
    echo: Callable[[str], str]


def every_mode(make_router: MakeRouter, **settings: Any) -> EveryMode:
    router = make_router(
        {
            f"{PRICING}/NormalizeSku": RouteConfig(mode=Mode("shadow"), shadow=ShadowConfig()),
            f"{FAULTY}/Panic": RouteConfig(mode=Mode("wasm"), fallback=True),
            f"{FAULTY}/Echo": RouteConfig(mode=Mode("wasm")),
        },
        **settings,
    )

    @router.route(f"{PRICING}/NormalizeSku")
    def normalize_sku(sku: str) -> str:
        return sku.strip().upper().replace(" ", "-")

    @router.route(f"{FAULTY}/Panic")
    def panic(text: str) -> str:
        return f"python: {text}"

    @router.route(f"{FAULTY}/Echo")
    def echo(text: str) -> str:
        raise NotImplementedError

    return EveryMode(router, normalize_sku, panic, echo)
