"""Python functions' type hints -> the messages, enums and service of a .proto file.

The result is what `@bridge.route` (routing/binding.py) binds each function to: the
request's fields are the parameters by name; a dataclass, NamedTuple or TypedDict
return type is the response's fields, any other return type the response's one field,
`result`. Types: int int64, float double, str string, bytes bytes, bool bool,
Optional[X] proto3 `optional` (message fields have presence already), list[X] repeated,
dict[K, V] map (K int, str or bool), IntEnum enum, dataclass/NamedTuple/TypedDict a
message named after the class, datetime google.protobuf.Timestamp, timedelta
google.protobuf.Duration, Decimal string (exact, as str(Decimal) writes it). Anything
else is refused with one line naming the function, the parameter and the type.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf.message import Message

from ..errors import RouteError, SchemaError
from ..imports import import_attribute
from ..routing.binding import parameters
from .protofile import EnumSpec, FieldSpec, MessageSpec, ProtoFile, RpcSpec

__all__ = ["RESULT_FIELD", "derive", "load_function", "rpc_name"]

#: The response's one field when a function returns a single value.
RESULT_FIELD = "result"
TIMESTAMP = "google.protobuf.Timestamp"
DURATION = "google.protobuf.Duration"
_WELL_KNOWN = {
    TIMESTAMP: "google/protobuf/timestamp.proto",
    DURATION: "google/protobuf/duration.proto",
}
_SCALARS: dict[Any, str] = {
    bool: "bool",
    int: "int64",
    float: "double",
    str: "string",
    bytes: "bytes",
}
_MAP_KEYS = frozenset({"int64", "string", "bool"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_INT32 = range(-(2**31), 2**31)
_SUPPORTED = (
    "int, float, str, bytes, bool, Optional, list, dict, IntEnum, a dataclass, NamedTuple "
    "or TypedDict, datetime, timedelta or Decimal"
)


def rpc_name(function_name: str) -> str:
    """The rpc of a function: its name in CamelCase (line_total -> LineTotal)."""
    return "".join(part[:1].upper() + part[1:] for part in function_name.split("_") if part)


def load_function(spec: str) -> Callable[..., Any]:
    """The function `spec` (module:function, or module:Class.method) names, imported
    from the current directory as `python -c "import module"` would."""
    module_name, _, qualname = spec.partition(":")
    if not module_name or not qualname:
        raise SchemaError(f"{spec!r}: name a function as module:function (shopapp.pricing:vat)")
    try:
        target = import_attribute(spec, module_name, qualname)
    except LookupError as exc:
        raise SchemaError(str(exc)) from None
    if not callable(target) or inspect.isclass(target):
        raise SchemaError(f"{spec}: {qualname} is not a function")
    return target  # type: ignore[no-any-return]


def derive(
    functions: Sequence[tuple[str, Callable[..., Any]]], package: str, service: str
) -> ProtoFile:
    """The .proto of `functions` (each with the label errors name it by), unnumbered."""
    if not _PACKAGE.fullmatch(package):
        raise SchemaError(f"--package {package!r} is not a protobuf package name (shop.v1)")
    if not _IDENTIFIER.fullmatch(service):
        raise SchemaError(f"--service {service!r} is not a protobuf name: give it plain (Pricing)")
    deriver = _Deriver()
    rpcs = [deriver.rpc(label, fn) for label, fn in functions]
    return ProtoFile(
        package=package,
        service=service,
        rpcs=rpcs,
        messages=deriver.rpc_messages + [t for t in deriver.types if isinstance(t, MessageSpec)],
        enums=[t for t in deriver.types if isinstance(t, EnumSpec)],
        imports=sorted(deriver.imports),
    )


class _Refused(Exception):
    """A hint with no protobuf form: why, and what to use instead."""

    def __init__(self, hint: Any, advice: str, reason: str = "which has no protobuf form") -> None:
        super().__init__(f"is {_show(hint)}, {reason}; {advice}")


class _Deriver:
    def __init__(self) -> None:
        self.rpc_messages: list[MessageSpec] = []
        self.types: list[MessageSpec | EnumSpec] = []
        self.imports: set[str] = set()
        self._classes: dict[str, type] = {}
        self._rpcs: set[str] = set()
        #: The parameter (or return type) being derived, for errors in nested classes.
        self._origin = ""

    # --- one function -------------------------------------------------------------

    def rpc(self, label: str, fn: Callable[..., Any]) -> RpcSpec:
        fn = inspect.unwrap(fn)  # already routed: derive from the function itself
        name = rpc_name(getattr(fn, "__name__", ""))
        if not name or not _IDENTIFIER.fullmatch(name):
            raise SchemaError(f"{label}: {fn!r} has no name an rpc can take")
        if name in self._rpcs:
            raise SchemaError(f"{label}: a second function would be rpc {name}; rename one")
        self._rpcs.add(name)
        try:
            hints = typing.get_type_hints(fn)
        except Exception as exc:  # noqa: BLE001 - any failure of a hint's expression
            raise SchemaError(f"{label}: its type hints cannot be resolved: {exc}") from None
        request = MessageSpec(f"{name}Request", [], f"The arguments of {label}.")
        for param in _parameters(fn, label):
            where = f"parameter '{param.name}'"
            if param.name not in hints:
                raise SchemaError(f"{label}: {where} has no type hint; annotate it ({_SUPPORTED})")
            request.fields.append(self._field(param.name, hints[param.name], label, where))
        response = self._response(name, hints, label)
        for message in (request, response):
            self._claim(message.name, None, label)
        self.rpc_messages += [request, response]
        return RpcSpec(name, label, request.name, response.name, inspect.getdoc(fn) or "")

    def _response(self, rpc: str, hints: Mapping[str, Any], label: str) -> MessageSpec:
        if "return" not in hints:
            raise SchemaError(f"{label}: the return type has no hint; annotate it ({_SUPPORTED})")
        hint = hints["return"]
        name = f"{rpc}Response"
        if hint is None or hint is type(None):
            raise SchemaError(
                f"{label}: returns None; a routed function answers a value: return one"
            )
        if _record_fields(hint) is not None:
            # binding.py fills a record's fields from the response's fields of those names.
            fields = self._record(hint, label, "the return type")
            return MessageSpec(name, fields, _class_doc(hint))
        if (typing.get_origin(hint) or hint) in (dict, Mapping):
            raise SchemaError(
                f"{label}: the return type is {_show(hint)}; bridge reads a dict result as the "
                "response's fields, which a dict type does not name: return a TypedDict or a "
                "dataclass"
            )
        return MessageSpec(name, [self._field(RESULT_FIELD, hint, label, "the return type")])

    # --- types --------------------------------------------------------------------

    def _field(self, name: str, hint: Any, label: str, where: str) -> FieldSpec:
        if not where.startswith("field "):
            self._origin = where
        if not _IDENTIFIER.fullmatch(name):
            raise SchemaError(f"{label}: {where}: {name!r} is not a protobuf field name")
        try:
            kind, type_name = self._type(hint, label)
        except _Refused as refused:
            raise SchemaError(f"{label}: {where} {refused}") from None
        if kind == "map":
            return FieldSpec(name, type_name)
        return FieldSpec(name, type_name, kind)

    def _type(self, hint: Any, label: str) -> tuple[str, str]:
        """(label, type): label "", "optional", "repeated" or "map"."""
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (typing.Union, types.UnionType):
            rest = [a for a in args if a is not type(None)]
            if len(rest) != 1 or len(args) != 2:
                raise _Refused(hint, "use one type, or a dataclass with an optional field each")
            kind, inner = self._type(rest[0], label)
            if kind:
                raise _Refused(hint, f"use {_show(rest[0])} (empty for none)")
            return ("" if self._is_message(inner) else "optional"), inner
        if origin in (list, Sequence):
            if len(args) != 1:
                raise _Refused(hint, "name the element type: list[int]")
            kind, inner = self._type(args[0], label)
            if kind:
                raise _Refused(
                    hint, "use a list of a dataclass that holds the inner value", _NESTED
                )
            return "repeated", inner
        if origin in (dict, Mapping):
            if len(args) != 2:
                raise _Refused(hint, "name the key and value types: dict[str, int]")
            key_kind, key = self._type(args[0], label)
            if key_kind or key not in _MAP_KEYS or args[0] not in _SCALARS:
                raise _Refused(
                    hint, "map keys are int, str or bool", "whose key type cannot be one"
                )
            kind, value = self._type(args[1], label)
            if kind:
                raise _Refused(
                    hint, "use a dict of a dataclass that holds the inner value", _NESTED
                )
            return "map", f"map<{key}, {value}>"
        if origin in (set, frozenset) or hint in (set, frozenset):
            raise _Refused(hint, f"use list[{_show(args[0]) if args else 'int'}]")
        if origin is tuple or hint is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                raise _Refused(hint, f"use list[{_show(args[0])}]")
            raise _Refused(hint, "use a NamedTuple, whose fields have names")
        if hint in (list, dict):
            raise _Refused(hint, "name the element types: list[int], dict[str, int]")
        if origin is not None or not isinstance(hint, type):
            raise _Refused(hint, f"use {_SUPPORTED}")
        return "", self._named(hint, label)

    def _named(self, hint: type, label: str) -> str:
        if hint in _SCALARS:
            return _SCALARS[hint]
        if issubclass(hint, enum.IntEnum):
            return self._enum(hint, label)
        if issubclass(hint, enum.Enum):
            raise _Refused(hint, "use an enum.IntEnum, whose values are the protobuf enum's")
        if issubclass(hint, datetime.datetime):
            self.imports.add(_WELL_KNOWN[TIMESTAMP])
            return TIMESTAMP
        if issubclass(hint, datetime.date | datetime.time):
            raise _Refused(hint, "use datetime.datetime (a google.protobuf.Timestamp)")
        if issubclass(hint, datetime.timedelta):
            self.imports.add(_WELL_KNOWN[DURATION])
            return DURATION
        if issubclass(hint, decimal.Decimal):
            return "string"
        if issubclass(hint, Message):
            raise _Refused(
                hint, "route it against its own .proto, or use a dataclass", "a protobuf message"
            )
        if _record_fields(hint) is not None:
            return self._message(hint, label)
        raise _Refused(hint, f"use {_SUPPORTED}")

    def _message(self, cls: type, label: str) -> str:
        name = cls.__name__
        if self._classes.get(name) is cls:
            return name
        self._claim(name, cls, label)
        message = MessageSpec(name, [], _class_doc(cls))
        self.types.append(message)  # before its fields: a class may hold itself
        message.fields = self._record(cls, label, self._origin)
        return name

    def _record(self, cls: type, label: str, where: str) -> list[FieldSpec]:
        names = _record_fields(cls) or []
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:  # noqa: BLE001 - any failure of a hint's expression
            raise SchemaError(
                f"{label}: the type hints of {cls.__qualname__} cannot be resolved: {exc}"
            ) from None
        fields = []
        for field_name in names:
            at = f"field {cls.__qualname__}.{field_name}" + (f" (of {where})" if where else "")
            if field_name not in hints:
                raise SchemaError(f"{label}: {at} has no type hint; annotate it")
            fields.append(self._field(field_name, hints[field_name], label, at))
        return fields

    def _enum(self, cls: type[enum.IntEnum], label: str) -> str:
        name = cls.__name__
        if self._classes.get(name) is cls:
            return name
        self._claim(name, cls, label)
        prefix = _upper_snake(name)
        members = sorted(cls, key=lambda m: m.value != 0)  # proto3: the zero value first
        values = [] if members and members[0].value == 0 else [(f"{prefix}_UNSPECIFIED", 0)]
        for member in members:
            if member.value not in _INT32:
                raise _Refused(
                    cls, "keep its values within int32", f"whose {member.name} is out of range"
                )
            upper = member.name.upper()
            value_name = upper if upper.startswith(f"{prefix}_") else f"{prefix}_{upper}"
            if any(value_name == taken for taken, _ in values):
                raise _Refused(cls, f"rename {member.name}", f"whose {value_name} is taken")
            values.append((value_name, member.value))
        self.types.append(EnumSpec(name, values, _class_doc(cls)))
        return name

    def _claim(self, name: str, cls: type | None, label: str) -> None:
        """Each message or enum name belongs to one class, or to one rpc's message."""
        if name in self._classes or any(m.name == name for m in self.rpc_messages):
            other = self._classes.get(name)
            what = f"{other.__module__}.{other.__qualname__}" if other else "an rpc's message"
            raise SchemaError(
                f"{label}: two types would be message {name} ({what} and "
                f"{cls.__module__ + '.' + cls.__qualname__ if cls else 'an rpc message'}); "
                "rename one"
            )
        if cls is not None:
            self._classes[name] = cls

    def _is_message(self, type_name: str) -> bool:
        return type_name in (TIMESTAMP, DURATION) or any(
            isinstance(t, MessageSpec) and t.name == type_name for t in self.types
        )


_NESTED = "which has no protobuf form (a container directly in a container)"


def _parameters(fn: Callable[..., Any], label: str) -> list[inspect.Parameter]:
    """The parameters binding.py matches to the request (its own rule, so that the two
    never disagree)."""
    try:
        return parameters(inspect.signature(fn), label)
    except RouteError as exc:
        raise SchemaError(str(exc)) from None


def _record_fields(hint: Any) -> list[str] | None:
    """The field names of a dataclass, NamedTuple or TypedDict (None: not one)."""
    if typing.get_origin(hint) is not None or not isinstance(hint, type):
        return None
    if dataclasses.is_dataclass(hint):
        return [f.name for f in dataclasses.fields(hint)]
    if issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return list(hint._fields)
    if typing.is_typeddict(hint):
        return list(hint.__annotations__)
    return None


def _class_doc(cls: Any) -> str:
    """The class's own docstring; not the one dataclass or NamedTuple make up."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    if doc.startswith(f"{cls.__name__}(") or doc == "An enumeration.":
        return ""
    return doc


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()


def _show(hint: Any) -> str:
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) is None and isinstance(hint, type):
        return hint.__qualname__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")
