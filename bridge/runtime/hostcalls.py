"""Host services: Python code that guest code calls (docs/abi.md section 12).

A guest that is migrated may still need legacy Python that is not. The host gives it
services by their full name, each an object with one method per RPC, in the shape of a
grpcio servicer: `Reserve(self, request, context)`. With the module's embedded schema the
request arrives decoded and the response may be a message; without one both are bytes.

    class Inventory:  # e.g. a subclass of inventory_pb2_grpc.InventoryServicer
        def Reserve(self, request, context):
            if request.quantity > 100:
                context.abort(bridge.StatusCode.RESOURCE_EXHAUSTED, "not that many")
            return inventory_pb2.ReserveReply(ok=True)

    bridge.load("build/pricing.wasm", host={"legacy.v1.Inventory": Inventory()})

A host call never raises into the guest: every outcome is a response or a status.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NoReturn

from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from ..errors import ConfigError, StatusCode
from ..schema.messages import MessageTypes
from ..schema.model import Schema

__all__ = ["HostAbort", "HostContext", "HostServices", "unimplemented"]

log = logging.getLogger("bridge.runtime")


class HostAbort(Exception):
    """Raised by `HostContext.abort`: the host method fails with this status."""

    def __init__(self, code: StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class HostContext:
    """The `context` a host method gets, with grpc's `abort(code, details)`."""

    def __init__(self, method: str) -> None:
        self.method = method

    def abort(self, code: StatusCode | int, details: str) -> NoReturn:
        raise HostAbort(StatusCode(int(getattr(code, "value", code))), details)


class HostServices:
    """The host services one module may call, by full service name."""

    def __init__(self, services: Mapping[str, object], schema: Schema | None) -> None:
        self._services = dict(services)
        self._types = MessageTypes(schema) if schema is not None else None
        if schema is not None:
            unknown = sorted(set(services) - set(schema.services))
            if unknown:
                raise ConfigError(
                    f"host services {', '.join(unknown)} are not in the module's schema "
                    f"(it has {', '.join(sorted(schema.services)) or 'none'})"
                )

    def call(self, method: str, request: bytes) -> tuple[bool, bytes]:
        """Run `method` (`pkg.Service/Method`): (is_error, response or google.rpc.Status)."""
        service, _, name = method.partition("/")
        target = getattr(self._services.get(service), name, None)
        if target is None:
            return unimplemented(method)
        try:
            argument: Any = request
            if self._types is not None:
                argument = self._types.message_class(self._types.schema.method(method).input)
                argument = argument.FromString(request)
            response = target(argument, HostContext(method))
            if isinstance(response, Message):
                return False, response.SerializeToString()
            if isinstance(response, bytes | bytearray):
                return False, bytes(response)
            if response is None:
                return False, b""
            raise TypeError(f"returned {type(response).__name__}, not a message or bytes")
        except HostAbort as abort:
            return _status(abort.code, abort.details)
        except DecodeError:
            return _status(StatusCode.INVALID_ARGUMENT, f"{method}: the request does not decode")
        except Exception as exc:  # the host's own bug must not become the guest's trap
            log.exception("host method %s failed", method)
            return _status(StatusCode.INTERNAL, f"{method}: {type(exc).__name__}: {exc}")


def unimplemented(method: str) -> tuple[bool, bytes]:
    return _status(StatusCode.UNIMPLEMENTED, f"the host does not implement {method}")


def _status(code: StatusCode, message: str) -> tuple[bool, bytes]:
    return True, status_pb2.Status(code=int(code), message=message).SerializeToString()
