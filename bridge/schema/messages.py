"""Python message classes for a schema's types, made at run time from its descriptors.

`bridge call`, and anything else that holds a module but no generated `_pb2`, uses these
to turn JSON into request bytes and response bytes back into JSON (protobuf's own
json_format does the JSON).
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from ..errors import CallError, InvalidArguments
from .model import Schema

__all__ = ["MessageTypes"]


class MessageTypes:
    """The message classes of every type in `schema`, by full name."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._pool = descriptor_pool.DescriptorPool()
        # protoc's --include_imports lists dependencies before the files that use them.
        for file in descriptor_pb2.FileDescriptorSet.FromString(schema.descriptor_set).file:
            self._pool.Add(file)

    def message_class(self, full_name: str) -> type[Message]:
        """The user's own generated class when its *_pb2 module is loaded (it registers
        the type in protobuf's default pool), else one made from the schema."""
        try:
            descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
        except KeyError:
            descriptor = self._pool.FindMessageTypeByName(full_name)
        return message_factory.GetMessageClass(descriptor)

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
        return json_format.MessageToJson(message, indent=2, preserving_proto_field_name=True)
