"""Host services: Python code that guest code calls (docs/abi.md section 12).

A guest that is migrated may still need legacy Python that is not. The host gives it
services by their full name, each an object with one method per RPC, in the shape of a
grpcio servicer: `Reserve(self, request, context)`. The request arrives decoded with the
module's embedded schema, and the response may be a message or its bytes.

The schema is also the allow-list: a guest reaches only the methods its schema declares
for the services given, resolved once at load, never an attribute it names at run time
(a private method, `__init__`). A module without a schema cannot be given services.

    class Inventory:  # e.g. a subclass of inventory_pb2_grpc.InventoryServicer
        def Reserve(self, request, context):
            if request.quantity > 100:
                context.abort(bridge.StatusCode.RESOURCE_EXHAUSTED, "not that many")
            return inventory_pb2.ReserveReply(ok=True)

    bridge.load("build/pricing.wasm", host={"legacy.v1.Inventory": Inventory()})

A host method's failure is a status for the guest (UNIMPLEMENTED, its `context.abort`
code or its `context.abort_with_status` envelope, details included, INTERNAL for an
exception); only what no status can carry (SystemExit,
KeyboardInterrupt, any other BaseException) escapes `call`, and fails the guest's call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from ..abi import MAX_STATUS_CODE
from ..errors import ConfigError, LoadError, StatusCode
from ..schema.messages import MessageTypes
from ..schema.model import Schema

__all__ = ["HostAbort", "HostContext", "HostServices", "unimplemented"]

log = logging.getLogger("bridge.runtime")


class HostAbort(Exception):
    """Raised by `HostContext.abort`: the host method fails with this status."""

    def __init__(
        self, code: StatusCode, details: str, status: status_pb2.Status | None = None
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        #: The whole envelope, from abort_with_status (with its details); None from abort.
        self.status = status


class HostContext:
    """The `context` a host method gets, with grpc's `abort(code, details)` and
    `abort_with_status(status)`."""

    def __init__(self, method: str) -> None:
        self.method = method

    def abort(self, code: StatusCode | int, details: str) -> NoReturn:
        raise HostAbort(_code(code), details)

    def abort_with_status(self, status: object) -> NoReturn:
        """Fail with a whole `google.rpc.Status` (its details reach the guest as they
        are), or with a `grpc.Status` (grpc_status.rpc_status.to_status's), whose
        `grpc-status-details-bin` trailer is that envelope."""
        if isinstance(status, status_pb2.Status):
            envelope = status
        else:
            envelope = status_pb2.Status()
            for key, value in getattr(status, "trailing_metadata", None) or ():
                if key == "grpc-status-details-bin" and isinstance(value, bytes):
                    envelope.ParseFromString(value)
                    break
            else:
                envelope.code = int(_code(getattr(status, "code", StatusCode.UNKNOWN)))
                envelope.message = str(getattr(status, "details", "") or "")
        raise HostAbort(_code(envelope.code), envelope.message, envelope)


def _code(code: object) -> StatusCode:
    """A StatusCode from ours, an int, or grpc.StatusCode (whose value is (int, name))."""
    value = getattr(code, "value", code)
    if isinstance(value, tuple):
        value = value[0]
    try:
        return StatusCode(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return StatusCode.UNKNOWN


class HostServices:
    """The host services one module may call, by full service name: the methods its
    schema declares, each resolved on the service's object once, here."""

    def __init__(
        self, services: Mapping[str, object], schema: Schema | None, *, module: str = "the module"
    ) -> None:
        self._types = MessageTypes(schema) if schema is not None else None
        # `pkg.Service/Method` -> (the bound method, its request's full type name)
        self._methods: dict[str, tuple[Callable[[Any, HostContext], object], str]] = {}
        if not services:
            return
        if schema is None:
            raise LoadError(
                f"{module} has no embedded schema, so the host cannot tell which methods "
                f"of {', '.join(sorted(services))} its guest may call: build it with "
                "`bridge build` in a project where `bridge gen` wrote its bridge-schema.binpb "
                "(docs/abi.md section 11), or load it without host services",
                path=module,
            )
        unknown = sorted(set(services) - set(schema.services))
        if unknown:
            raise ConfigError(
                f"host services {', '.join(unknown)} are not in the module's schema "
                f"(it has {', '.join(sorted(schema.services)) or 'none'})"
            )
        for service, implementation in services.items():
            for rpc in schema.services[service].methods:
                # A method the object lacks stays UNIMPLEMENTED, as grpc's servicers do.
                target = getattr(implementation, rpc.name, None)
                if target is None:
                    continue
                if not callable(target):
                    raise ConfigError(
                        f"host service {service}: {rpc.name} is a "
                        f"{type(target).__name__}, not a method"
                    )
                self._methods[rpc.full_name] = (target, rpc.input)

    def call(self, method: str, request: bytes) -> tuple[bool, bytes]:
        """Run `method` (`pkg.Service/Method`): (is_error, response or google.rpc.Status)."""
        found = self._methods.get(method)
        if found is None or self._types is None:
            return unimplemented(method)
        target, input_type = found
        try:
            # MessageTypes keeps its classes alive (see there): upb holds them weakly.
            argument = self._types.message_class(input_type).FromString(request)
            response = target(argument, HostContext(method))
            if isinstance(response, Message):
                return False, response.SerializeToString()
            if isinstance(response, bytes | bytearray):
                return False, bytes(response)
            if response is None:
                return False, b""
            raise TypeError(f"returned {type(response).__name__}, not a message or bytes")
        except HostAbort as abort:
            if not 0 < abort.code <= MAX_STATUS_CODE:
                return _status(
                    StatusCode.INTERNAL,
                    f"{method}: the host method aborted with status {abort.code.name}, "
                    "which is not an error",
                )
            if abort.status is not None:
                return True, abort.status.SerializeToString()
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
