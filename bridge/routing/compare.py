"""Message comparison for shadow mode: protobuf equality, with the slack real data needs.

Floats may differ within a tolerance, some fields may be left out, and what differs is
listed by field path, so that a mismatch report says `total_cents: 1999 != 2000`
instead of "not equal".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from .binding import is_map

__all__ = ["Comparison"]

_FLOATS = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)
_MAX_DIFFERENCES = 20


@dataclass(frozen=True, slots=True)
class Comparison:
    """How two responses are compared.

    >>> from google.protobuf import struct_pb2
    >>> a = struct_pb2.Value(number_value=0.1 + 0.2)
    >>> b = struct_pb2.Value(number_value=0.3)
    >>> Comparison().differences(a, b)
    ['number_value: 0.30000000000000004 != 0.3']
    >>> Comparison(float_abs_tolerance=1e-9).differences(a, b)
    []
    """

    float_abs_tolerance: float = 0.0
    float_rel_tolerance: float = 0.0
    #: Dotted field paths left out (`lines.note` leaves out `note` in every line).
    ignore_fields: frozenset[str] = frozenset()

    @property
    def exact(self) -> bool:
        return not (self.float_abs_tolerance or self.float_rel_tolerance or self.ignore_fields)

    def differences(self, control: Message, candidate: Message) -> list[str]:
        """What differs, one `path: control != candidate` line each (at most 20)."""
        if self.exact and control == candidate:
            return []
        found: list[str] = []
        self._messages(control, candidate, "", "", found)
        return found[:_MAX_DIFFERENCES]

    def _messages(self, a: Message, b: Message, prefix: str, rule: str, found: list[str]) -> None:
        # `prefix` is the path shown (with indexes); `rule` the one ignore_fields matches.
        field: Any  # the upb and pure-Python descriptor stubs disagree
        for field in a.DESCRIPTOR.fields:
            path, key = prefix + field.name, rule + field.name
            if key in self.ignore_fields or len(found) >= _MAX_DIFFERENCES:
                continue
            x, y = getattr(a, field.name), getattr(b, field.name)
            if is_map(field):
                value_field = field.message_type.fields_by_name["value"]
                for item in sorted(set(x) | set(y), key=repr):
                    shown = f"{path}[{item!r}]"
                    if item in x and item in y:
                        self._values(value_field, x[item], y[item], shown, key, found)
                    else:
                        found.append(f"{shown}: {_entry(x, item)} != {_entry(y, item)}")
            elif field.is_repeated:
                if len(x) != len(y):
                    found.append(f"{path}: {len(x)} items != {len(y)} items")
                    continue
                for index, (u, v) in enumerate(zip(x, y, strict=True)):
                    self._values(field, u, v, f"{path}[{index}]", key, found)
            elif field.has_presence and a.HasField(field.name) != b.HasField(field.name):
                found.append(
                    f"{path}: {_set(a.HasField(field.name))} != {_set(b.HasField(field.name))}"
                )
            else:
                self._values(field, x, y, path, key, found)

    def _values(
        self, field: Any, x: object, y: object, path: str, rule: str, found: list[str]
    ) -> None:
        if x == y:  # exact equality holds under any tolerance; it also ends recursive types
            return
        if isinstance(x, Message) and isinstance(y, Message):
            self._messages(x, y, path + ".", rule + ".", found)
            return
        if (
            field.type in _FLOATS
            and isinstance(x, float)
            and isinstance(y, float)
            and self._close(x, y)
        ):
            return
        found.append(f"{path}: {x!r} != {y!r}")

    def _close(self, x: float, y: float) -> bool:
        if math.isnan(x) and math.isnan(y):
            return True
        return math.isclose(
            x, y, rel_tol=self.float_rel_tolerance, abs_tol=self.float_abs_tolerance
        )


def _set(present: bool) -> str:
    return "set" if present else "unset"


def _entry(mapping: object, key: object) -> str:
    return repr(mapping[key]) if key in mapping else "(absent)"  # type: ignore[index, operator]
