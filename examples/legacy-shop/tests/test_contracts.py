"""The functions that move out of Python match their rpcs' messages field by field."""

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

import pytest
from google.protobuf.message import Message

from shopapp.gen.shop.v1 import legacy_shop_pb2 as pb
from shopapp.pricing import line_total, vat_cents
from shopapp.stock import reorder_quantity

MIGRATING = [
    (line_total, pb.LineTotalRequest, pb.LineTotalResponse),
    (vat_cents, pb.VatRequest, pb.VatResponse),
    (reorder_quantity, pb.ReorderQuantityRequest, pb.ReorderQuantityResponse),
]


def fields(message: type[Message]) -> list[str]:
    return [f.name for f in message.DESCRIPTOR.fields]


@pytest.mark.parametrize(("function", "request_type", "response_type"), MIGRATING)
def test_parameters_are_the_request_fields(
    function: Callable[..., Any], request_type: type[Message], response_type: type[Message]
) -> None:
    assert list(inspect.signature(function).parameters) == fields(request_type)
    hints = get_type_hints(function)
    assert all(hints[name] is int for name in fields(request_type))


@pytest.mark.parametrize(("function", "request_type", "response_type"), MIGRATING)
def test_result_is_the_response(
    function: Callable[..., Any], request_type: type[Message], response_type: type[Message]
) -> None:
    result = get_type_hints(function)["return"]
    if dataclasses.is_dataclass(result):
        assert [f.name for f in dataclasses.fields(result)] == fields(response_type)
    else:
        assert result is int
        assert len(fields(response_type)) == 1
