"""A minimal real gRPC server of guest modules' methods, for tests of sidecar mode.

It does what `bridge serve` does at its simplest: bytes in, bytes out, guest errors as
their gRPC status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent import futures
from pathlib import Path

import grpc

from bridge import GuestModule
from bridge.errors import GuestError


class GuestServicer(grpc.GenericRpcHandler):
    """Serves the methods of `modules` with generic handlers, as `bridge serve` would."""

    def __init__(self, modules: Sequence[GuestModule]) -> None:
        self.modules = {method: module for module in modules for method in module.methods}
        self.calls = 0

    def service(
        self, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        method = details.method.lstrip("/")
        module = self.modules.get(method)
        if module is None:
            return None

        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls += 1
            try:
                return module.call(method, request)
            except GuestError as exc:
                status = next(c for c in grpc.StatusCode if c.value[0] == exc.code)
                # as bridge serve marks it: the guest's own answer, not a bridge failure
                context.set_trailing_metadata((("bridge-error", "GuestError"),))
                context.abort(status, exc.status_message)

        return grpc.unary_unary_rpc_method_handler(handle)


@contextlib.contextmanager
def serve_generic(handler: grpc.GenericRpcHandler, socket: Path) -> Iterator[str]:
    """A real grpcio server of `handler` on the unix socket `socket`, for the duration;
    its target."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"unix:{socket}")
    server.start()
    try:
        yield f"unix:{socket}"
    finally:
        server.stop(grace=None).wait(5)


@contextlib.contextmanager
def serve_modules(
    modules: Sequence[GuestModule], folder: Path
) -> Iterator[tuple[str, GuestServicer]]:
    """A grpcio server of `modules` on a unix socket in `folder`: its target, its servicer."""
    servicer = GuestServicer(modules)
    with serve_generic(servicer, folder / "sidecar.sock") as target:
        yield target, servicer
