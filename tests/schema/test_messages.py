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
    with pytest.raises(InvalidArguments, match="missing required fields: in a nested message"):
        types.request_from_json(ECHO, '{"id": "1", "address": {"street": "Main"}}')


def test_a_complete_request_is_encoded(types: MessageTypes) -> None:
    data = types.request_from_json(ECHO, '{"id": "7", "address": {"city": "Oslo"}}')
    message: Any = types.message_class("legacy.v1.Account").FromString(data)
    assert (message.id, message.address.city) == (7, "Oslo")
    assert missing_required(message) is None
