"""Requests from JSON for `bridge call`: a proto2 request missing a required field is the
caller's mistake, said in one line, not protobuf's EncodeError."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import InvalidArguments
from bridge.schema.messages import MessageTypes, missing_required
from bridge.schema.model import Schema
from tests.conftest import LEGACY_PROTO, ROOT

ECHO = "legacy.v1.Accounts/Echo"


@pytest.fixture(scope="module")
def types() -> MessageTypes:
    return MessageTypes(Schema.compile([LEGACY_PROTO], [ROOT / "proto" / "examples"]))


def test_a_request_without_its_required_fields_is_refused(types: MessageTypes) -> None:
    with pytest.raises(InvalidArguments) as info:
        types.request_from_json(ECHO, '{"owner": "ann"}')
    assert str(info.value).splitlines() == [
        "the request is not a complete legacy.v1.Account: missing required fields: id"
    ]
    # Fields of nested messages (a group here) by their path.
    with pytest.raises(InvalidArguments, match=r"missing required fields: address\.city$"):
        types.request_from_json(ECHO, '{"id": "1", "address": {"street": "Main"}}')


def test_missing_fields_are_named_by_their_path(types: MessageTypes) -> None:
    ledger: Any = types.message_class("legacy.v1.Ledger")()
    ledger.accounts.add(id=1)
    ledger.accounts.add(owner="bob")
    ledger.accounts.add(id=3).address.street = "Main"
    assert missing_required(ledger) == (
        "missing required fields: accounts[1].id, accounts[2].address.city"
    )


def test_a_complete_request_is_encoded(types: MessageTypes) -> None:
    data = types.request_from_json(ECHO, '{"id": "7", "address": {"city": "Oslo"}}')
    message: Any = types.message_class("legacy.v1.Account").FromString(data)
    assert (message.id, message.address.city) == (7, "Oslo")
    assert missing_required(message) is None


@pytest.fixture(scope="module")
def required() -> Any:
    """bridge_test.proto2.Required of the conformance tests' proto2 schema."""
    proto = ROOT / "tests" / "conformance" / "proto"
    schema = Schema.compile([proto / "bridge_test" / "proto2.proto"], [proto])
    return MessageTypes(schema).message_class("bridge_test.proto2.Required")


def test_a_map_values_missing_fields_are_named_by_its_key(required: Any) -> None:
    message = required(id=1, name="a")
    message.by_name["b"].id = 2
    assert missing_required(message) == "missing required fields: by_name['b'].name"


def test_a_map_whose_key_is_not_utf8_is_passed_over(required: Any) -> None:
    """proto2 keeps a string that is not UTF-8, but upb cannot show it as a key: such a
    map is not looked into, and the reason stays general when nothing else is missing."""
    value = b"\x08\x02"  # Required{id: 2}, without its name
    entry = b"\x0a\x01\x80\x12" + bytes([len(value)]) + value  # by_name entry, key b"\x80"
    message = required.FromString(b"\x08\x01\x12\x01a\x2a" + bytes([len(entry)]) + entry)
    assert missing_required(message) == "missing required fields: in a nested message"
    message.ClearField("name")
    assert missing_required(message) == "missing required fields: name"
