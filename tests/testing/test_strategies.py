"""Requests drawn from descriptors: valid messages of every type the schema language
has, reaching each type's edge values, and keeping to the `where` domains."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, find, given, settings

from bridge.errors import ConfigError
from bridge.testing.domains import parse_domain
from bridge.testing.strategies import message_strategy

QUICK = settings(
    max_examples=150, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)


def _where(**domains: str) -> dict[str, Any]:
    return {path.replace("__", "."): parse_domain(text) for path, text in domains.items()}


def test_every_drawn_message_survives_the_wire(kitchen_pb2: ModuleType) -> None:
    everything = kitchen_pb2.Everything

    @QUICK
    @given(message_strategy(everything.DESCRIPTOR))
    def check(message: Message) -> None:
        data = message.SerializeToString(deterministic=True)
        again = everything.FromString(data)
        assert again.SerializeToString(deterministic=True) == data

    check()


def test_proto2_messages_always_serialize(legacy_pb2: ModuleType) -> None:
    """Required fields are set at every depth (groups too), so nothing drawn fails to
    serialize; closed enums get declared values only."""
    ledger = legacy_pb2.Ledger
    declared = {v.number for v in legacy_pb2.Status.DESCRIPTOR.values}

    @QUICK
    @given(message_strategy(ledger.DESCRIPTOR))
    def check(message: Any) -> None:
        data = message.SerializeToString(deterministic=True)  # EncodeError if one is missing
        assert ledger.FromString(data) == message
        for account in message.accounts:
            assert account.HasField("id")
            assert not account.HasField("address") or account.address.HasField("city")
            assert set(account.history) <= declared

    check()
    _reaches(
        message_strategy(ledger.DESCRIPTOR),
        lambda m: any(a.HasField("address") and a.note for a in m.accounts),
    )


def _reaches(strategy: Any, condition: Callable[[Any], bool]) -> None:
    # Found is enough: no shrinking (Phase.generate only).
    find(
        strategy,
        condition,
        settings=settings(max_examples=3000, database=None, phases=[Phase.generate]),
    )


@pytest.mark.parametrize(
    "condition",
    [
        lambda m: m.f_int64 == -(2**63),
        lambda m: m.f_uint64 == 2**64 - 1,
        lambda m: m.f_sint32 == 2**31 - 1,
        lambda m: m.f_fixed32 == 2**32 - 1,
        lambda m: math.isnan(m.f_double),
        lambda m: m.f_double == 0 and math.copysign(1, m.f_double) < 0,
        lambda m: 0 < abs(m.f_double) < 2.2250738585072014e-308,  # subnormal
        lambda m: m.f_float == -math.inf,
        lambda m: any(ord(c) > 0xFF for c in m.f_string),  # beyond Latin-1
        lambda m: any(ord(c) > 0xFFFF for c in m.f_string),  # beyond the BMP
        lambda m: len(m.f_bytes) > 2,
        lambda m: m.f_bool,
        lambda m: m.f_color == -1,
    ],
)
def test_scalars_reach_their_edges(kitchen_pb2: ModuleType, condition: Any) -> None:
    _reaches(message_strategy(kitchen_pb2.Scalars.DESCRIPTOR), condition)


@pytest.mark.parametrize(
    "condition",
    [
        lambda m: not m.HasField("o_int32"),
        lambda m: m.HasField("o_int32") and m.o_int32 == 0,  # set to its default: presence
        lambda m: m.WhichOneof("choice") is None,
        lambda m: m.WhichOneof("choice") == "c_message",
        lambda m: m.WhichOneof("choice") == "c_bytes",
        lambda m: m.HasField("message") and m.message.f_int32 != 0,
    ],
)
def test_presence_and_oneofs_take_every_shape(kitchen_pb2: ModuleType, condition: Any) -> None:
    _reaches(message_strategy(kitchen_pb2.Presence.DESCRIPTOR), condition)


def test_repeated_maps_and_nesting_are_filled(kitchen_pb2: ModuleType) -> None:
    _reaches(message_strategy(kitchen_pb2.Repeated.DESCRIPTOR), lambda m: len(m.r_message) >= 2)
    _reaches(
        message_strategy(kitchen_pb2.Maps.DESCRIPTOR),
        lambda m: any(v.f_string for v in m.m_message_value.values()),
    )
    _reaches(
        message_strategy(kitchen_pb2.Node.DESCRIPTOR),
        lambda m: any(len(child.children) > 0 for child in m.children),
    )


def test_fields_keep_to_their_domains(kitchen_pb2: ModuleType) -> None:
    where = _where(
        f_int64="0..10",
        f_uint32="7",
        f_double="0.5..1.5",
        f_string="/[A-Z]{3}-[0-9]{1,4}/",
        f_color="COLOR_RED|COLOR_GREEN",
        f_bool="true",
        f_bytes="/ab+/",
    )

    @QUICK
    @given(message_strategy(kitchen_pb2.Scalars.DESCRIPTOR, where))
    def check(m: Any) -> None:
        assert 0 <= m.f_int64 <= 10 and m.f_uint32 == 7 and 0.5 <= m.f_double <= 1.5
        assert len(m.f_string) in range(5, 9) and m.f_string[3] == "-", m.f_string
        assert m.f_color in (1, 2) and m.f_bool and m.f_bytes.startswith(b"ab")

    check()


def test_nested_repeated_and_map_fields_keep_to_their_domains(kitchen_pb2: ModuleType) -> None:
    @QUICK
    @given(
        message_strategy(
            kitchen_pb2.Everything.DESCRIPTOR,
            _where(
                scalars__f_int32="-3..-1",
                repeated__r_int64="1..3",
                maps__m_int32="a|b",
                maps__m_message_value__f_sint64="5",
            ),
        )
    )
    def check(m: Any) -> None:
        assert m.scalars.f_int32 in (-3, -2, -1) or not m.HasField("scalars")
        assert all(1 <= v <= 3 for v in m.repeated.r_int64)
        assert set(m.maps.m_int32.values()) <= {"a", "b"}
        assert all(v.f_sint64 == 5 for v in m.maps.m_message_value.values())

    check()


@pytest.mark.parametrize(
    ("domains", "reason"),
    [
        ({"f_nope": "1"}, "kitchen.v1.Scalars has no field 'f_nope' (its fields: f_double,"),
        ({"f_string": "0..9"}, "a range fits number fields; f_string is of type string"),
        ({"f_int32": "/[0-9]+/"}, "a /regex/ fits string and bytes fields"),
        ({"f_int32": "1.5..2"}, "give whole numbers"),
        ({"f_int32": "0..9999999999"}, "out of the range of int32"),
        ({"f_uint32": "-1|2"}, "'-1' is not a uint32 value"),
        ({"f_color": "COLOR_PINK"}, "'COLOR_PINK' is not a enum value"),
        ({"f_bool": "yes"}, "'yes' is not a bool value"),
        ({"f_int32.x": "1"}, "f_int32 is not a message"),
    ],
)
def test_domains_that_do_not_fit_say_why(
    kitchen_pb2: ModuleType, domains: dict[str, str], reason: str
) -> None:
    where = {path: parse_domain(text) for path, text in domains.items()}
    with pytest.raises(ConfigError) as raised:
        message_strategy(kitchen_pb2.Scalars.DESCRIPTOR, where)
    assert reason in str(raised.value)
    assert str(raised.value).startswith("where ")


def test_a_message_field_needs_a_field_path(kitchen_pb2: ModuleType) -> None:
    with pytest.raises(ConfigError, match="scalars is a message; give the domain of one"):
        message_strategy(kitchen_pb2.Everything.DESCRIPTOR, _where(scalars="1"))
