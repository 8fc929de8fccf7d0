"""Hypothesis strategies for protobuf messages, from their descriptors.

Every scalar over its whole range with its edge values drawn often (int64's limits,
-0.0, infinities, NaN, subnormals), strings over all of Unicode but surrogates (a
protobuf string is UTF-8), bytes, repeated fields, maps, nested messages to a bounded
depth, oneofs (one member or none), enums (a closed proto2 enum's declared values only)
and explicit presence. proto2 groups are drawn as the messages they are, and `required`
fields are always set, at any depth, so every message drawn serializes. A field with a
`where` domain (domains.py) draws from it instead.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Mapping
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

from ..errors import ConfigError
from ..routing.binding import is_map, is_message
from ..schema.model import INT_RANGES
from .domains import Domain

__all__ = ["message_strategy"]

#: Nested messages deeper than this are left unset (recursive types end there).
MAX_DEPTH = 3
_MAX_ITEMS = 4
_MAX_TEXT = 24
#: The bound of the small-integer branch, where most functions' valid inputs are.
_SMALL = 1000

_FD = FieldDescriptor
_FLOAT32_MAX = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
_FLOAT32_TINY = struct.unpack("<f", b"\x01\x00\x00\x00")[0]


def message_strategy(
    descriptor: Any, where: Mapping[str, Domain] | None = None
) -> st.SearchStrategy[Message]:
    """Messages of `descriptor`'s type; `where` maps dotted field paths to their domain.
    ConfigError names a path that is no field, or a domain that does not fit it."""
    where = dict(where or {})
    _check_paths(descriptor, where)
    return _Builder(where).message(descriptor, "", MAX_DEPTH)


class _Builder:
    def __init__(self, where: Mapping[str, Domain]) -> None:
        self.where = where

    def message(self, descriptor: Any, prefix: str, depth: int) -> st.SearchStrategy[Message]:
        cls = message_factory.GetMessageClass(descriptor)
        setters: list[st.SearchStrategy[Any]] = []
        for oneof in descriptor.oneofs:
            if _synthetic(oneof):
                continue
            members = [
                self.setter(f, prefix, depth)
                for f in oneof.fields
                if not is_message(f) or depth > 0
            ]
            # Unset first: shrinking goes towards the message with no member set.
            setters.append(st.one_of(st.just(_unset), *members))
        for f in descriptor.fields:
            if f.containing_oneof is not None and not _synthetic(f.containing_oneof):
                continue
            if is_message(f) and not is_map(f) and depth <= 0 and not f.is_required:
                continue
            setters.append(self.setter(f, prefix, depth))

        def build(calls: list[Any]) -> Message:
            message = cls()
            for call in calls:
                call(message)
            return message

        return st.tuples(*setters).map(lambda calls: build(list(calls)))

    def setter(self, f: Any, prefix: str, depth: int) -> st.SearchStrategy[Any]:
        """A strategy of functions that set field `f` on a message."""
        path = prefix + f.name
        name = f.name
        if is_map(f):
            key_field = f.message_type.fields_by_name["key"]
            value_field = f.message_type.fields_by_name["value"]
            keys = self.scalar(key_field, path + ".key")
            values = self.value(value_field, path, depth - 1)
            return st.dictionaries(keys, values, max_size=_MAX_ITEMS).map(
                lambda items: _set_map(name, items)
            )
        if f.is_repeated:
            items = st.lists(self.value(f, path, depth - 1), max_size=_MAX_ITEMS)
            return items.map(lambda values: _set_repeated(name, values))
        value = self.value(f, path, depth - 1)
        if f.has_presence and not f.is_required:  # unset is a value too
            return st.one_of(st.just(_unset), value.map(lambda v: _set_one(name, v)))
        return value.map(lambda v: _set_one(name, v))

    def value(self, f: Any, path: str, depth: int) -> st.SearchStrategy[Any]:
        if is_message(f):
            return self.message(f.message_type, path + ".", depth)
        return self.scalar(f, path)

    def scalar(self, f: Any, path: str) -> st.SearchStrategy[Any]:
        domain = self.where.get(path)
        if domain is not None:
            return _from_domain(f, path, domain)
        kind = f.type
        if kind in INT_RANGES:
            low, high = INT_RANGES[kind]
            candidates = {0, 1, -1, 2, low, high, low + 1, high - 1}
            ints = sorted((e for e in candidates if low <= e <= high), key=abs)
            return st.one_of(
                st.sampled_from(ints),
                st.integers(max(low, -_SMALL), min(high, _SMALL)),
                _round_numbers(low, high),
                st.integers(low, high),
            )
        if kind in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
            double = kind == _FD.TYPE_DOUBLE
            big = sys.float_info.max if double else _FLOAT32_MAX
            tiny = 5e-324 if double else _FLOAT32_TINY  # the smallest subnormals
            edges: list[float] = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan]
            edges += [tiny, -tiny, big, -big]
            return st.one_of(st.sampled_from(edges), st.floats(width=64 if double else 32))
        if kind == _FD.TYPE_BOOL:
            return st.booleans()
        if kind == _FD.TYPE_STRING:
            return st.text(st.characters(codec="utf-8"), max_size=_MAX_TEXT)
        if kind == _FD.TYPE_BYTES:
            return st.binary(max_size=_MAX_TEXT)
        if kind == _FD.TYPE_ENUM:
            return st.sampled_from([v.number for v in f.enum_type.values])
        raise ConfigError(f"{path}: field type {kind} has no strategy")  # pragma: no cover


def _round_numbers(low: int, high: int) -> st.SearchStrategy[int]:
    """Numbers as data has them: a few significant digits times a power of ten (500,
    1900, 25_000_000), where rounding and overflow differences live."""
    return st.builds(
        lambda digits, power, negative: -digits * 10**power if negative else digits * 10**power,
        st.integers(1, 99),
        st.integers(0, 18),
        st.booleans(),
    ).filter(lambda n: low <= n <= high)


def _from_domain(f: Any, path: str, domain: Domain) -> st.SearchStrategy[Any]:
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"where {path}={domain.text}: {reason}")

    kind = f.type
    numeric = kind in INT_RANGES or kind in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT)
    if domain.kind == "range":
        if not numeric:
            raise bad(f"a range fits number fields; {path} is of type {_type_name(f)}")
        if kind in INT_RANGES:
            low, high = INT_RANGES[kind]
            try:
                lo = low if domain.low is None else int(domain.low.replace("_", ""))
                hi = high if domain.high is None else int(domain.high.replace("_", ""))
            except ValueError:
                raise bad(f"{path} is an integer field: give whole numbers") from None
            if lo < low or hi > high:
                raise bad(f"out of the range of {_type_name(f)} ({low}..{high})")
            return st.integers(lo, hi)
        return st.floats(
            None if domain.low is None else float(domain.low),
            None if domain.high is None else float(domain.high),
            allow_nan=False,
            width=64 if kind == _FD.TYPE_DOUBLE else 32,
        )
    if domain.kind == "regex":
        if kind == _FD.TYPE_STRING:
            return st.from_regex(domain.pattern, fullmatch=True)
        if kind == _FD.TYPE_BYTES:
            return st.from_regex(domain.pattern.encode(), fullmatch=True)
        raise bad(f"a /regex/ fits string and bytes fields; {path} is of type {_type_name(f)}")
    values = [_choice(f, item, bad) for item in domain.choices]
    return st.sampled_from(values)


def _choice(f: Any, item: str, bad: Any) -> Any:
    kind = f.type
    try:
        if kind in INT_RANGES:
            value = int(item.replace("_", ""))
            low, high = INT_RANGES[kind]
            if not low <= value <= high:
                raise ValueError
            return value
        if kind in (_FD.TYPE_DOUBLE, _FD.TYPE_FLOAT):
            return float(item)
        if kind == _FD.TYPE_BOOL:
            return {"true": True, "false": False}[item.lower()]
        if kind == _FD.TYPE_ENUM:
            named = f.enum_type.values_by_name.get(item)
            return (
                named.number
                if named is not None
                else f.enum_type.values_by_number[int(item)].number
            )
        if kind == _FD.TYPE_BYTES:
            return item.encode()
    except (ValueError, KeyError):
        raise bad(f"{item!r} is not a {_type_name(f)} value") from None
    return item


def _check_paths(descriptor: Any, where: Mapping[str, Domain]) -> None:
    for path, domain in where.items():
        current = descriptor
        parts = path.split(".")
        for index, part in enumerate(parts):
            f = current.fields_by_name.get(part)
            if f is None:
                known = ", ".join(x.name for x in current.fields) or "none"
                raise ConfigError(
                    f"where {path}={domain.text}: {current.full_name} has no field {part!r} "
                    f"(its fields: {known})"
                )
            last = index == len(parts) - 1
            if is_map(f):
                f = f.message_type.fields_by_name["value"]
            if is_message(f):
                if last:
                    raise ConfigError(
                        f"where {path}={domain.text}: {path} is a message; give the domain of "
                        f"one of its fields, as in {path}.FIELD"
                    )
                current = f.message_type
            elif not last:
                raise ConfigError(f"where {path}={domain.text}: {part} is not a message")


def _type_name(f: Any) -> str:
    names = {v: k[len("TYPE_") :].lower() for k, v in vars(_FD).items() if k.startswith("TYPE_")}
    return names.get(f.type, str(f.type))


def _synthetic(oneof: Any) -> bool:
    """A proto3 `optional` field's oneof of one, which only says it has presence."""
    return bool(getattr(oneof, "is_synthetic", False)) or (
        len(oneof.fields) == 1 and oneof.name == "_" + oneof.fields[0].name
    )


def _unset(message: Message) -> None:
    """Leaves the field unset."""


def _set_one(name: str, value: Any) -> Any:
    def set_field(message: Message) -> None:
        if isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)

    return set_field


def _set_repeated(name: str, values: list[Any]) -> Any:
    def set_field(message: Message) -> None:
        target = getattr(message, name)
        if values and isinstance(values[0], Message):
            for value in values:
                target.add().CopyFrom(value)
        else:
            target.extend(values)

    return set_field


def _set_map(name: str, items: dict[Any, Any]) -> Any:
    def set_field(message: Message) -> None:
        target = getattr(message, name)
        for key, value in items.items():
            if isinstance(value, Message):
                target[key].CopyFrom(value)
            else:
                target[key] = value

    return set_field
