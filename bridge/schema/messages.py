"""Python message classes for a schema's types, made at run time from its descriptors.

`bridge call`, and anything else that holds a module but no generated `_pb2`, uses these
to turn JSON into request bytes and response bytes back into JSON (protobuf's own
json_format does the JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from ..errors import CallError, InvalidArguments, SchemaError
from .jsonable import message_to_dict
from .model import Schema

__all__ = ["BROKEN", "MessageTypes", "missing_required"]

#: How MessageTypes' SchemaError starts: what follows says what does not resolve.
BROKEN = "the schema is broken: "
_POOL_PREFIX = "Couldn't build proto file into descriptor pool: "


class MessageTypes:
    """The message classes of every type in `schema`, by full name.

    SchemaError when the schema does not hold together: a type or an import it names is
    not in the set (protoc never writes such a set; a damaged or hand-made one can).
    """

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._pool = descriptor_pool.DescriptorPool()
        # Every class handed out, kept alive with this object: protobuf (upb) holds a class
        # made from a pool only weakly, and one collected between two uses crashed the
        # process (a segfault in PyUpb_Descriptor_GetDef) under load.
        self._classes: dict[str, type[Message]] = {}
        try:
            # protoc's --include_imports lists dependencies before the files that use them.
            for file in descriptor_pb2.FileDescriptorSet.FromString(schema.descriptor_set).file:
                self._pool.Add(file)
            for service in schema.services.values():
                for method in service.methods:
                    self._pool.FindMessageTypeByName(method.input)
                    self._pool.FindMessageTypeByName(method.output)
        except (DecodeError, TypeError, ValueError, KeyError) as exc:
            # protobuf raises TypeError naming the name it could not resolve.
            reason = " ".join(str(exc).split()).removeprefix(_POOL_PREFIX)
            raise SchemaError(f"{BROKEN}{reason or type(exc).__name__}") from exc

    def message_class(self, full_name: str) -> type[Message]:
        """The user's own generated class when its *_pb2 module is loaded (it registers
        the type in protobuf's default pool), else one made from the schema."""
        found = self._classes.get(full_name)
        if found is not None:
            return found
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
        except KeyError:
            descriptor = self._pool.FindMessageTypeByName(full_name)
        made = self._classes[full_name] = message_factory.GetMessageClass(descriptor)
        return made

    def request_from_json(self, method: str, text: str) -> bytes:
        """The encoded request of `method` from its JSON (protobuf's JSON mapping)."""
        cls = self.message_class(self.schema.method(method).input)
        try:
            message = json_format.Parse(text or "{}", cls())
        except json_format.ParseError as exc:
            reason = " ".join(str(exc).split())  # one line, whatever protobuf wrapped
            raise InvalidArguments(
                f"the request is not a valid {cls.DESCRIPTOR.full_name} in JSON: {reason}",
                method=method,
            ) from None
        missing = missing_required(message)
        if missing is not None:
            raise InvalidArguments(
                f"the request is not a complete {cls.DESCRIPTOR.full_name}: {missing}",
                method=method,
            )
        return message.SerializeToString()

    def response_to_json(self, method: str, data: bytes) -> str:
        """The JSON of `method`'s encoded response."""
        cls = self.message_class(self.schema.method(method).output)
        try:
            message = cls.FromString(data)
        except DecodeError as exc:
            raise CallError(
                f"{method}: the response is not a valid {cls.DESCRIPTOR.full_name}: {exc}",
                method=method,
            ) from None
        # Text as text and 64-bit integers as numbers: for people, and ParseDict reads it back.
        return json.dumps(message_to_dict(message), indent=2, ensure_ascii=False)


def missing_required(message: Message) -> str | None:
    """Why `message` lacks a proto2 `required` field (at any depth), or None when it has
    them all: protobuf neither serializes nor parses such a message."""
    if message.IsInitialized():
        return None
    missing = ", ".join(_missing(message, ""))
    return f"missing required fields: {missing or 'in a nested message'}"


def _missing(message: Message, prefix: str) -> Iterator[str]:
    """The paths of the required fields `message` lacks (`items[1].id`, `by_key['a'].id`).
    Not FindInitializationErrors: upb's crashes on a map value lacking its fields."""
    for field in message.DESCRIPTOR.fields:
        path = prefix + field.name
        if field.is_required and not message.HasField(field.name):
            yield path
        elif field.message_type is None:
            continue
        elif field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            try:
                entries = list(getattr(message, field.name).items())
            except UnicodeDecodeError:  # a proto2 string key that is not UTF-8: not shown
                continue
            for key, value in entries:
                if not value.IsInitialized():
                    yield from _missing(value, f"{path}[{key!r}].")
        elif field.is_repeated:
            for index, item in enumerate(getattr(message, field.name)):
                if not item.IsInitialized():
                    yield from _missing(item, f"{path}[{index}].")
        elif message.HasField(field.name) and not getattr(message, field.name).IsInitialized():
            yield from _missing(getattr(message, field.name), path + ".")
