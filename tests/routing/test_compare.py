"""Comparison of two responses: field paths, float tolerance, ignored fields."""

from __future__ import annotations

import math
from types import ModuleType

from bridge.routing.compare import Comparison


def test_differences_name_each_path(kitchen_pb2: ModuleType) -> None:
    a = kitchen_pb2.Everything()
    a.scalars.f_int64 = 1
    a.repeated.r_int64.extend([1, 2])
    a.maps.m_int32[1] = "one"
    a.presence.o_int32 = 0
    b = kitchen_pb2.Everything()
    b.CopyFrom(a)
    assert Comparison().differences(a, b) == []
    b.scalars.f_int64 = 2
    b.repeated.r_int64[1] = 3
    b.maps.m_int32[2] = "two"
    b.presence.ClearField("o_int32")
    assert Comparison().differences(a, b) == [
        "scalars.f_int64: 1 != 2",
        "repeated.r_int64[1]: 2 != 3",
        "maps.m_int32[2]: (absent) != 'two'",
        "presence.o_int32: set != unset",
    ]
    ignoring = Comparison(ignore_fields=frozenset({"scalars.f_int64", "maps", "presence.o_int32"}))
    assert ignoring.differences(a, b) == ["repeated.r_int64[1]: 2 != 3"]


def test_float_tolerance(kitchen_pb2: ModuleType) -> None:
    a = kitchen_pb2.Scalars(f_double=100.0, f_float=1.5)
    b = kitchen_pb2.Scalars(f_double=100.001, f_float=1.5)
    assert Comparison().differences(a, b) == ["f_double: 100.0 != 100.001"]
    assert Comparison(float_abs_tolerance=0.01).differences(a, b) == []
    assert Comparison(float_rel_tolerance=1e-4).differences(a, b) == []
    assert Comparison(float_rel_tolerance=1e-6).differences(a, b) != []
    nan = kitchen_pb2.Scalars(f_double=math.nan)
    assert Comparison(float_abs_tolerance=1e-9).differences(nan, nan) == []


def test_repeated_messages_and_lengths(kitchen_pb2: ModuleType) -> None:
    a = kitchen_pb2.Repeated()
    a.r_message.add(f_string="x", f_int64=1)
    b = kitchen_pb2.Repeated()
    b.r_message.add(f_string="x", f_int64=2)
    assert Comparison().differences(a, b) == ["r_message[0].f_int64: 1 != 2"]
    assert Comparison(ignore_fields=frozenset({"r_message.f_int64"})).differences(a, b) == []
    b.r_message.add()
    assert Comparison().differences(a, b) == ["r_message: 1 items != 2 items"]
