"""Protobuf messages as JSON values people can read: 64-bit integers as numbers.

protobuf's JSON mapping writes int64 and uint64 as strings (for JavaScript, whose
numbers lose precision past 2**53); a report shows `"total_cents": 1999`, which JSON
allows, and which `json_format.ParseDict` (so `bridge call`) reads back all the same.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = ["message_json", "message_to_dict"]

_INT64 = frozenset(
    {
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
#: Well-known wrappers whose JSON form is their value alone, a string for 64 bits.
_INT64_WRAPPERS = frozenset({"google.protobuf.Int64Value", "google.protobuf.UInt64Value"})


def message_to_dict(message: Message) -> dict[str, Any]:
    """`message` in protobuf's JSON mapping (proto field names), 64-bit integers as numbers."""
    data = json_format.MessageToDict(message, preserving_proto_field_name=True)
    _numbers(message.DESCRIPTOR, data)
    return data


def message_json(message: Message) -> str:
    """`message` as one line of JSON, non-ASCII text as text."""
    return json.dumps(message_to_dict(message), ensure_ascii=False)


def _numbers(descriptor: Any, data: Any) -> None:
    """Turn the 64-bit integer strings of `data` (the JSON form of a `descriptor`
    message) into ints, in place: nested, repeated and map values too."""
    if not isinstance(data, dict):
        return  # a well-known type with a JSON form of its own (Timestamp, Struct ...)
    field: Any  # the upb and pure-Python descriptor stubs disagree
    for field in descriptor.fields:
        if field.name not in data:
            continue
        value = data[field.name]
        message_type = field.message_type
        if message_type is not None and message_type.GetOptions().map_entry:
            value_field = message_type.fields_by_name["value"]
            for key, item in value.items():  # keys stay strings: JSON's keys are
                value[key] = _value(value_field, item)
        elif field.is_repeated:
            data[field.name] = [_value(field, item) for item in value]
        else:
            data[field.name] = _value(field, value)


def _value(field: Any, value: Any) -> Any:
    if field.type in _INT64:
        return _int(value)
    message_type = field.message_type
    if message_type is None:
        return value
    if message_type.full_name in _INT64_WRAPPERS:
        return _int(value)
    if not message_type.full_name.startswith("google.protobuf."):
        _numbers(message_type, value)
    return value


def _int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
