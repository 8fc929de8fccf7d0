"""How a legacy Python function's arguments and result map onto its rpc's messages.

Built once, when `@route` is applied: parameters are matched to the request's fields
by name and checked against the type hints, so a mismatch fails at import time. The
per-call work is a generated function with the legacy function's own signature, so
Python's call machinery binds positional and keyword arguments at C speed and a bad
call raises the same TypeError the original would.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import keyword
import types
import typing
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import DecodeError, EncodeError, Message

from .. import abi
from ..errors import AbiViolation, InvalidArguments, RouteError
from ..schema.messages import missing_required

__all__ = [
    "Binding",
    "bind",
    "field_of",
    "identity",
    "is_map",
    "is_message",
    "parameters",
    "plain",
]

_INTS = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOATS = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
_SCALAR_HINTS: dict[int, tuple[type, ...]] = {
    FieldDescriptor.TYPE_BOOL: (bool,),
    FieldDescriptor.TYPE_STRING: (str,),
    FieldDescriptor.TYPE_BYTES: (bytes,),
    **{t: (int,) for t in _INTS},
    **{t: (float, int) for t in _FLOATS},
}
_SELF_NAMES = ("self", "cls")
# Python values protobuf's well-known types stand for (bridge proto derives them).
_WELL_KNOWN = {
    "google.protobuf.Timestamp": datetime.datetime,
    "google.protobuf.Duration": datetime.timedelta,
}
# Descriptors are typed loosely: protobuf's stubs for its upb and pure-Python backends
# disagree (message_type is Optional in one of them).
Field = Any
Descriptor = Any


@dataclasses.dataclass(frozen=True, slots=True)
class Binding:
    """The messages of one rpc and the conversions between them and Python values."""

    method: str
    request_class: type[Message]
    response_class: type[Message]
    #: Called with the function's own arguments; the request message.
    encode: Callable[..., Message]
    #: The response message as the value the legacy function returns.
    to_python: Callable[[Message], Any]
    #: The legacy function's return value as a response message (for comparison).
    to_message: Callable[[Any], Message]
    #: The request message as the keyword arguments of the legacy function (for replay).
    to_kwargs: Callable[[Message], dict[str, Any]]
    #: A server-streaming rpc, routed from a generator function: `to_python` and
    #: `to_message` then convert each message the function yields.
    streaming: bool = False

    def serialize(self, request: Message) -> bytes:
        """The request's bytes; InvalidArguments when it lacks a proto2 `required` field."""
        # Looked into only when protobuf refuses to encode: it checks required fields as
        # it encodes anyway, so no route pays more, where an IsInitialized() first would
        # cost a proto2 route more than the encoding itself. Not SerializePartialToString:
        # a bridge guest would refuse the request only after the call, as its answer (a
        # GuestError, which never falls back), and a foreign sidecar might accept it.
        try:
            return request.SerializeToString()
        except EncodeError as exc:
            raise self.unencodable(request, exc) from None

    def unencodable(self, request: Message, exc: EncodeError) -> InvalidArguments:
        """Why `request` cannot be encoded, as the caller's error: the required fields
        its arguments left unset."""
        missing = missing_required(request)
        if missing is None:  # not a required field: protobuf's own reason, on one line
            reason = " ".join(str(exc).split())
            return InvalidArguments(
                f"{self.method}: the request cannot be encoded: {reason}", method=self.method
            )
        return InvalidArguments(
            f"{self.method}: the request is not a complete {request.DESCRIPTOR.full_name}: "
            f"{missing}; set them (proto2 `required`)",
            method=self.method,
        )

    def decode(self, data: bytes) -> Message:
        """The response message from its bytes; a guest that answers garbage broke the ABI."""
        try:
            return self.response_class.FromString(data)
        except DecodeError as exc:
            raise AbiViolation(
                f"{self.method}: the answer is not a valid "
                f"{self.response_class.DESCRIPTOR.full_name}: {exc}",
                method=self.method,
            ) from None


def bind(
    fn: Callable[..., Any],
    method: str,
    *,
    to_python: Callable[[Message], Any] | None = None,
    to_message: Callable[[Any], Message] | None = None,
) -> Binding:
    """Match `fn` to `method`'s messages; RouteError says what does not fit.

    A generator function (sync or async) binds to a server-streaming rpc: its arguments
    to the request as for a unary rpc, each value it yields to the response message as
    a unary function's return value (by the yield type of its `Iterator[T]` hint).
    """
    name = getattr(fn, "__qualname__", repr(fn))
    descriptor = _method_descriptor(method, name)
    streaming = _check_kind(fn, method, descriptor, name)
    request = message_factory.GetMessageClass(descriptor.input_type)
    response = message_factory.GetMessageClass(descriptor.output_type)
    signature = inspect.signature(fn)
    hints = _hints(fn)
    params = parameters(signature, name)
    _check_parameters(params, descriptor.input_type, hints, name)
    return_hint = hints.get("return", inspect.Parameter.empty)
    if streaming:
        return_hint = _yield_hint(return_hint, name)
    if to_python is None:
        to_python = _result_reader(
            descriptor.output_type,
            response,
            return_hint,
            name,
            verb="yields" if streaming else "returns",
        )
    if to_message is None:
        to_message = _result_writer(descriptor.output_type, response)
    return Binding(
        method=method,
        request_class=request,
        response_class=response,
        encode=_encoder(fn, signature, request, descriptor.input_type, method, hints),
        to_python=to_python,
        to_message=to_message,
        to_kwargs=_kwargs_reader(params, descriptor.input_type, hints),
        streaming=streaming,
    )


def plain(value: Any) -> Any:
    """`value` with dataclasses and named tuples turned into dicts, recursively: the shape
    protobuf's constructors take for message fields."""
    if isinstance(value, Message | str | bytes | int | float | bool) or value is None:
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)  # a Decimal travels as its exact text (bridge proto: string)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --- at decoration: find the rpc and check the function against it -------------------


def _method_descriptor(method: str, name: str) -> MethodDescriptor:
    if not abi.is_method_export(method):
        raise RouteError(
            f"@route({method!r}) on {name}: name the rpc in full, as in shop.v1.Pricing/Quote"
        )
    try:
        found = descriptor_pool.Default().FindMethodByName(method.replace("/", "."))
    except KeyError:
        raise RouteError(
            f"@route({method!r}) on {name}: no such rpc among the loaded protobuf types; "
            "import its generated _pb2 module (bridge gen --python-out) before this decorator"
        ) from None
    if found.client_streaming:
        kind = "bidirectional" if found.server_streaming else "client-streaming"
        raise RouteError(
            f"@route({method!r}) on {name}: {method} is a {kind} rpc; bridge routes unary "
            "and server-streaming rpcs only (call it with GuestModule.invoke or .stream)"
        )
    return found


def _check_kind(fn: Any, method: str, descriptor: MethodDescriptor, name: str) -> bool:
    """Whether the route streams: a generator function for a server-streaming rpc, any
    other function for a unary one; RouteError for a mix."""
    generator = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
    if descriptor.server_streaming and not generator:
        raise RouteError(
            f"@route({method!r}) on {name}: {method} is a server-streaming rpc; route a "
            "generator function to it (one that yields each response, sync or async)"
        )
    if generator and not descriptor.server_streaming:
        raise RouteError(
            f"@route({method!r}) on {name}: {name} is a generator function, but {method} "
            "is a unary rpc; route it to a server-streaming rpc, or return one value"
        )
    return generator


#: The hints a generator function's return may have, and where their yield type is.
_GENERATOR_HINTS = frozenset(
    {Iterator, Iterable, Generator, AsyncIterator, AsyncIterable, AsyncGenerator}
)


def _yield_hint(hint: Any, name: str) -> Any:
    """The type a generator function yields, from its return hint (`Iterator[T]`,
    `Generator[T, None, None]`, `AsyncIterator[T]`, ...); empty when it has none."""
    if hint is inspect.Parameter.empty or hint is Any:
        return inspect.Parameter.empty
    origin = typing.get_origin(hint) or hint
    if origin not in _GENERATOR_HINTS:
        raise RouteError(
            f"{name}() is a generator function whose return type is {_shown(hint)}; "
            "annotate it Iterator[T] (AsyncIterator[T]) with T what it yields"
        )
    args = typing.get_args(hint)
    return args[0] if args else inspect.Parameter.empty


def _shown(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint)


def _hints(fn: Any) -> dict[str, Any]:
    """`fn`'s type hints, resolved; one that cannot be resolved (a name local to the
    function that defined it, say) is left out, so it is not checked."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - resolve them one by one below
        pass
    hints = {}
    namespace = getattr(fn, "__globals__", {})
    for name, hint in getattr(fn, "__annotations__", {}).items():
        try:
            hints[name] = eval(hint, namespace) if isinstance(hint, str) else hint  # noqa: S307
        except Exception:  # noqa: BLE001
            continue
    return hints


def parameters(signature: inspect.Signature, name: str) -> list[inspect.Parameter]:
    """The parameters a request's fields are matched to: all but a leading self/cls;
    RouteError for *args and **kwargs, which name no field."""
    params = list(signature.parameters.values())
    if (
        params
        and params[0].name in _SELF_NAMES
        and params[0].kind <= params[0].POSITIONAL_OR_KEYWORD
    ):
        params = params[1:]
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise RouteError(
                f"{name}({param}): a routed function names each argument (no *args or **kwargs)"
            )
    return params


def _check_parameters(
    params: Sequence[inspect.Parameter], message: Descriptor, hints: Mapping[str, Any], name: str
) -> None:
    fields = message.fields_by_name
    bound = {p.name: field_of(p.name, fields) for p in params}
    extra = [p for p, f in bound.items() if f not in fields]
    missing = [f for f in fields if f not in bound.values()]
    if extra or missing:
        problems = []
        if extra:
            problems.append(f"parameter {', '.join(extra)} is not a field")
        if missing:
            problems.append(f"field {', '.join(missing)} has no parameter")
        raise RouteError(
            f"{name}() does not fit {message.full_name}: {'; '.join(problems)} "
            f"(fields: {', '.join(fields) or 'none'})"
        )
    for param in params:
        if param.name in hints:
            field = bound[param.name]
            problem = _hint_problem(hints[param.name], fields[field])
            if problem:
                raise RouteError(
                    f"{name}() parameter {param.name}: {problem} for {message.full_name}.{field}"
                )


def field_of(parameter: str, fields: Mapping[str, Any]) -> str:
    """The field a parameter binds: the one of its name; for a field whose name is a
    Python keyword, which no parameter can have, PEP 8's trailing underscore
    (`from_` binds `from`)."""
    base = parameter[:-1]
    if parameter not in fields and parameter.endswith("_") and keyword.iskeyword(base):
        return base
    return parameter


def _hint_problem(hint: Any, field: Field) -> str | None:
    """Why a value of type `hint` cannot fill `field` (None when it can)."""
    if hint is Any or hint is object:
        return None
    shown = getattr(hint, "__name__", None) or str(hint)
    args = typing.get_args(hint)
    if _is_optional(hint):
        if not field.has_presence or field.is_repeated:
            return f"{shown} allows None, which a field without presence cannot hold"
        return _hint_problem(next(a for a in args if a is not type(None)), field)
    if is_map(field):
        if typing.get_origin(hint) not in (dict, Mapping, typing.get_origin(Mapping[str, int])):
            return f"{shown} is not a dict"
        if len(args) == 2:
            key, value = field.message_type.fields_by_name["key"], _map_value(field)
            return _hint_problem(args[0], key) or _hint_problem(args[1], value)
        return None
    if field.is_repeated:
        origin = typing.get_origin(hint)
        if origin not in (list, tuple, Sequence, Iterable, typing.get_origin(Sequence[int])):
            return f"{shown} is not a list"
        element = args[0] if args else Any
        return _hint_problem(element, _as_singular(field))
    if is_message(field):
        return None if _fits_message(hint, field.message_type) else f"{shown} is not a message"
    if field.type == FieldDescriptor.TYPE_ENUM:
        return None if hint is int or _is_int_enum(hint) else f"{shown} is not an int or IntEnum"
    allowed = _SCALAR_HINTS[field.type]
    if field.type == FieldDescriptor.TYPE_STRING and hint is decimal.Decimal:
        return None
    if isinstance(hint, type) and (issubclass(hint, allowed) and not _bool_for_number(hint, field)):
        return None
    wanted = " or ".join(t.__name__ for t in allowed)
    return f"{shown} is not {wanted}"


def _fits_message(hint: Any, message: Descriptor) -> bool:
    if message.full_name in _WELL_KNOWN and hint is _WELL_KNOWN[message.full_name]:
        return True
    if isinstance(hint, type) and issubclass(hint, Message):
        return bool(hint.DESCRIPTOR.full_name == message.full_name)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return {f.name for f in dataclasses.fields(hint)} <= set(message.fields_by_name)
    origin = typing.get_origin(hint) or hint
    return origin in (dict, Mapping) or typing.is_typeddict(hint) or _is_named_tuple(hint)


def _bool_for_number(hint: type, field: Field) -> bool:
    return issubclass(hint, bool) and field.type != FieldDescriptor.TYPE_BOOL


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(hint)
    )


def _is_int_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.IntEnum)


def _is_named_tuple(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields")


def is_message(field: Field) -> bool:
    """A message field, or a proto2 group (a message with another encoding)."""
    return field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP)


def is_map(field: Field) -> bool:
    return bool(
        field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
    )


def _map_value(field: Field) -> Field:
    return field.message_type.fields_by_name["value"]


class _Singular:
    """One element of a repeated field, for checking a list's element hint."""

    def __init__(self, field: Field) -> None:
        self.type = field.type
        self.message_type = field.message_type
        self.is_repeated = False
        self.has_presence = False


def _as_singular(field: Field) -> Field:
    return _Singular(field)


# --- per call: arguments -> request ----------------------------------------------------


def _encoder(
    fn: Callable[..., Any],
    signature: inspect.Signature,
    request: type[Message],
    message: Descriptor,
    method: str,
    hints: Mapping[str, Any],
) -> Callable[..., Message]:
    """A function with `fn`'s signature that returns the request message."""
    namespace: dict[str, Any] = {"_Request": request, "_plain": plain}
    params = []
    star_done = False
    slash_needed = False
    for param in signature.parameters.values():
        text = param.name
        if param.default is not param.empty:
            namespace[f"_default_{param.name}"] = param.default
            text += f"=_default_{param.name}"
        if param.kind is param.POSITIONAL_ONLY:
            slash_needed = True
        elif slash_needed:
            params.append("/")
            slash_needed = False
        if param.kind is param.KEYWORD_ONLY and not star_done:
            params.append("*")
            star_done = True
        params.append(text)
    if slash_needed:
        params.append("/")
    fields = message.fields_by_name
    param_of = {field_of(p.name, fields): p.name for p in parameters(signature, method)}
    values = []
    for field in message.fields:
        value = param_of[field.name]
        if is_message(field) or _mentions_decimal(hints.get(value)):
            # Dataclasses and named tuples become dicts, which protobuf takes; Decimals text.
            value = f"_plain({value})"
        if keyword.iskeyword(field.name):
            values.append(f"**{{{field.name!r}: {value}}}")  # from=... would not parse
        else:
            values.append(f"{field.name}={value}")
    source = (
        f"def _encode({', '.join(params)}):\n"
        f"    try:\n"
        f"        return _Request({', '.join(values)})\n"
        f"    except (TypeError, ValueError) as exc:\n"
        f"        raise _invalid(exc) from None\n"
    )
    title = f"{getattr(fn, '__qualname__', fn.__name__)}()"

    def invalid(exc: Exception) -> InvalidArguments:
        return InvalidArguments(
            f"{title} arguments do not fit {message.full_name}: {exc}", method=method
        )

    namespace["_invalid"] = invalid
    exec(compile(source, f"<bridge.route {method}>", "exec"), namespace)  # noqa: S102
    encoder: Callable[..., Message] = namespace["_encode"]
    # A bad call then reads like the original's: "quote() missing 1 required ...".
    encoder.__name__ = fn.__name__
    encoder.__qualname__ = getattr(fn, "__qualname__", fn.__name__)
    return encoder


def _kwargs_reader(
    params: Sequence[inspect.Parameter], message: Descriptor, hints: Mapping[str, Any]
) -> Callable[[Message], dict[str, Any]]:
    fields = message.fields_by_name
    readers = {
        p.name: _value_reader(fields[field_of(p.name, fields)], hints.get(p.name, p.empty))
        for p in params
    }

    def to_kwargs(request: Message) -> dict[str, Any]:
        return {name: read(request) for name, read in readers.items()}

    return to_kwargs


# --- per call: response <-> result -----------------------------------------------------


def _result_reader(
    message: Descriptor, response: type[Message], hint: Any, name: str, *, verb: str = "returns"
) -> Callable[[Message], Any]:
    """The response message as the legacy function's return value, by its return hint:
    the message itself, the value of a single-field response, or a dataclass, named
    tuple or dict with the response's fields. `verb` is "yields" for a generator's
    values, which convert the same way."""
    if isinstance(hint, type) and issubclass(hint, Message):
        if not issubclass(response, hint):
            raise RouteError(
                f"{name}() {verb} {hint.__name__}, but the rpc answers {message.full_name}"
            )
        return identity
    fields = message.fields
    if _is_record(hint):
        return _record_reader(message, hint, name, verb)
    if len(fields) == 1:
        if hint is not inspect.Parameter.empty:
            problem = _hint_problem(hint, fields[0])
            if problem:
                what = "return" if verb == "returns" else "yield"
                raise RouteError(
                    f"{name}() {what} type: {problem} for {message.full_name}.{fields[0].name}"
                )
        return _value_reader(fields[0], hint)
    if hint is inspect.Parameter.empty or hint is Any:
        return identity
    what = "return" if verb == "returns" else "yield"
    raise RouteError(
        f"{name}() {verb} {getattr(hint, '__name__', hint)}, which cannot hold "
        f"{message.full_name} ({len(fields)} fields): {what} the message, a dataclass or a "
        "dict, or pass to_python="
    )


def _is_record(hint: Any) -> bool:
    return (
        (dataclasses.is_dataclass(hint) and isinstance(hint, type))
        or _is_named_tuple(hint)
        or typing.is_typeddict(hint)
        or (typing.get_origin(hint) or hint) in (dict, Mapping)
    )


def _record_reader(
    message: Descriptor, hint: Any, name: str, verb: str = "returns"
) -> Callable[[Message], Any]:
    if dataclasses.is_dataclass(hint) or _is_named_tuple(hint):
        names = (
            [f.name for f in dataclasses.fields(hint)]
            if dataclasses.is_dataclass(hint)
            else list(hint._fields)
        )
        if set(names) != set(message.fields_by_name):
            raise RouteError(
                f"{name}() {verb} {hint.__name__} ({', '.join(names)}), which does not fit "
                f"{message.full_name} ({', '.join(message.fields_by_name)})"
            )
        field_hints = _hints(hint)
        readers = {
            n: _value_reader(message.fields_by_name[n], field_hints.get(n, inspect.Parameter.empty))
            for n in names
        }

        def to_record(response: Message) -> Any:
            return hint(**{n: read(response) for n, read in readers.items()})

        return to_record
    field_hints = _hints(hint) if typing.is_typeddict(hint) else {}
    plain_readers = {
        f.name: _value_reader(f, field_hints.get(f.name, inspect.Parameter.empty))
        for f in message.fields
    }

    def to_dict(response: Message) -> Any:
        return {n: read(response) for n, read in plain_readers.items()}

    return to_dict


def _value_reader(field: Field, hint: Any) -> Callable[[Message], Any]:
    """Reads `field` from a message as a plain Python value shaped by `hint`."""
    name = field.name
    if _is_optional(hint):
        inner = _value_reader(field, next(a for a in typing.get_args(hint) if a is not type(None)))
        if not field.has_presence:  # unset reads as the default, as it did without the hint
            return inner

        def read_optional(message: Message) -> Any:
            return inner(message) if message.HasField(name) else None

        return read_optional
    args = typing.get_args(hint)
    if is_map(field):
        value = _converter(args[1], _map_value(field).message_type) if len(args) == 2 else None
        if value is None:
            return lambda message: dict(getattr(message, name))
        return lambda message: {k: value(v) for k, v in getattr(message, name).items()}
    if field.is_repeated:
        convert = _converter(args[0] if args else inspect.Parameter.empty, field.message_type)
        if convert is None:
            return lambda message: list(getattr(message, name))
        return lambda message: [convert(v) for v in getattr(message, name)]
    single = _converter(hint, field.message_type)
    if single is None:
        return lambda message: getattr(message, name)
    return lambda message: single(getattr(message, name))


def _converter(hint: Any, message: Descriptor | None) -> Callable[[Any], Any] | None:
    """How a protobuf value (of `message` type, for a message) becomes the `hint` type
    (None: it already is one)."""
    if _is_int_enum(hint):
        return hint  # type: ignore[no-any-return]
    if hint is datetime.datetime:
        return lambda value: value.ToDatetime(tzinfo=datetime.timezone.utc)
    if hint is datetime.timedelta:
        return lambda value: value.ToTimedelta()
    if hint is decimal.Decimal:
        return decimal.Decimal
    if message is None or not isinstance(hint, type) or typing.get_origin(hint) is not None:
        return None
    if dataclasses.is_dataclass(hint):
        names = [f.name for f in dataclasses.fields(hint)]
    elif _is_named_tuple(hint) or typing.is_typeddict(hint):
        names = list(getattr(hint, "_fields", None) or hint.__annotations__)
    else:
        return None
    make: Callable[..., Any] = dict if typing.is_typeddict(hint) else hint
    built: list[dict[str, Callable[[Message], Any]]] = []

    def readers() -> dict[str, Callable[[Message], Any]]:
        field_hints = _hints(hint)
        return {
            n: _value_reader(message.fields_by_name[n], field_hints.get(n, inspect.Parameter.empty))
            for n in names
            if n in message.fields_by_name
        }

    def to_record(value: Message) -> Any:
        # Built on first use, not now: a class that holds itself would recurse forever.
        # Two threads may both build it; each gets a whole, equal set of readers.
        if not built:
            built.append(readers())
        return make(**{n: read(value) for n, read in built[0].items()})

    return to_record


def _mentions_decimal(hint: Any) -> bool:
    """Whether a Decimal may be in a value of type `hint` (top level, list or dict)."""
    return hint is decimal.Decimal or any(_mentions_decimal(a) for a in typing.get_args(hint))


def _result_writer(message: Descriptor, response: type[Message]) -> Callable[[Any], Message]:
    fields = message.fields
    single = fields[0].name if len(fields) == 1 else None

    def to_message(value: Any) -> Message:
        if isinstance(value, response):
            return value
        if single is not None:
            return response(**{single: plain(value)})
        shaped = plain(value)
        if not isinstance(shaped, Mapping):
            raise TypeError(
                f"cannot make a {message.full_name} of {type(value).__name__}: return the "
                "message, a dataclass or a dict, or pass to_message="
            )
        return response(**shaped)

    return to_message


def identity(message: Message) -> Message:
    return message
