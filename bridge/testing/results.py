"""What a diff found: the differences between Python and the port, as values and text."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ..errors import GuestError, StatusCode
from ..routing.binding import is_map

__all__ = ["DiffResult", "Difference", "describe_error", "readable"]


def readable(message: Message) -> dict[str, Any]:
    """`message` as plain JSON values, for people: int64 stays a number (protobuf's JSON
    makes it a string), every singular scalar is shown even at its default, a message,
    oneof member or optional field only when set; bytes as base64, enums by name,
    non-finite floats as "NaN", "Infinity", "-Infinity".

    >>> from google.protobuf import struct_pb2
    >>> readable(struct_pb2.Value(number_value=float("nan")))
    {'number_value': 'NaN'}
    """
    shown: dict[str, Any] = {}
    field_: Any
    for field_ in message.DESCRIPTOR.fields:
        value = getattr(message, field_.name)
        if is_map(field_):
            value_field = field_.message_type.fields_by_name["value"]
            shown[field_.name] = {str(k): _scalar(value_field, v) for k, v in value.items()}
        elif field_.is_repeated:
            shown[field_.name] = [_scalar(field_, v) for v in value]
        elif field_.has_presence and not message.HasField(field_.name):
            continue
        else:
            shown[field_.name] = _scalar(field_, value)
    return shown


def _scalar(field_: Any, value: Any) -> Any:
    if isinstance(value, Message):
        return readable(value)
    if field_.type == FieldDescriptor.TYPE_ENUM:
        named = field_.enum_type.values_by_number.get(value)
        return named.name if named is not None else value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def describe_error(error: BaseException, code: int | None = None) -> dict[str, Any]:
    """An exception as shown: its type, message and the status code it stands for."""
    if code is None and isinstance(error, GuestError):
        code = error.code
    shown: dict[str, Any] = {"error": type(error).__name__, "message": str(error)}
    if code is not None:
        shown["code"] = StatusCode(code).name
    return shown


@dataclass(frozen=True, slots=True)
class Difference:
    """One request on which Python and the port disagree, after shrinking.

    `kind` is `value` (both answered, differently), `python-error` (only Python
    raised), `port-error` (only the port failed or answered an error), `error-code`
    (both raised, with different status codes), `unmappable` (Python's answer does not
    fit the response message) or `compare-error` (a compare= or ignore= function
    raised). `python` and `port` are each the response as readable JSON, or
    {"error", "message", "code"}.
    """

    method: str
    kind: str
    request: dict[str, Any]
    python: dict[str, Any]
    port: dict[str, Any]
    differences: tuple[str, ...] = ()
    #: The request message itself, to replay it (`bridge call`, a regression test).
    message: Message | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "kind": self.kind,
            "request": self.request,
            "python": self.python,
            "port": self.port,
            "differences": list(self.differences),
        }

    def __str__(self) -> str:
        lines = [
            f"{self.method}: {self.kind}",
            f"  request  {_json(self.request)}",
            f"  python   {_json(self.python)}",
            f"  port     {_json(self.port)}",
        ]
        lines += [f"  differs  {line}" for line in self.differences]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DiffResult:
    """The outcome of diffing one route: the differences found (each shrunk), and how
    many requests were tried."""

    target: str
    method: str
    examples: int
    differences: tuple[Difference, ...]
    elapsed_s: float
    #: The run stopped at its time limit (what was found until then is kept).
    timed_out: bool = False

    @property
    def agrees(self) -> bool:
        return not self.differences

    def assert_agrees(self) -> None:
        """Raise AssertionError showing the shrunk requests, if any difference was found."""
        if self.differences:
            found = "\n\n".join(str(d) for d in self.differences)
            raise AssertionError(
                f"{self.target} ({self.method}): python and the port disagree "
                f"({len(self.differences)} minimal example(s) of {self.examples} tried):\n\n"
                f"{found}"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "method": self.method,
            "examples": self.examples,
            "elapsed_s": round(self.elapsed_s, 3),
            "timed_out": self.timed_out,
            "agrees": self.agrees,
            "differences": [d.to_json() for d in self.differences],
        }


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
