"""`max_message_bytes` limits responses as well as requests (docs: "the largest request or
response"): a guest that answers with more is a ResourceExhausted, and its instance goes on."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from tests.wat import wat_module

LIMIT = 1024
ECHO = "faulty.v1.Faulty/Echo"

# Sized answers with as many bytes as the request's first u32 says (from 0x2000, borrowed);
# SizedOwned the same, owned (the host must free it); Frees with the count of frees.
BODY = """
  (func (export "t.v1.T/Sized") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.or (i64.shl (i64.extend_i32_u (i32.load (local.get $p))) (i64.const 32))
                    (i64.const 0x2000))
            (i64.const 0x4000000000000000)))
  (func (export "t.v1.T/SizedOwned") (param $p i32) (param $n i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (i32.load (local.get $p))) (i64.const 32))
            (i64.const 0x2000)))
  (func (export "t.v1.T/Frees") (param i32 i32) (result i64)
    (i32.store (i32.const 0x800) (global.get $frees))
    (i64.or (i64.const 0x0000000400000800) (i64.const 0x4000000000000000)))
"""


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[bridge.GuestModule]:
    config = RuntimeConfig(cache_dir=None, max_message_bytes=LIMIT, pool_size=1)
    with bridge.load(wat_module(tmp_path, BODY), config) as loaded:
        yield loaded


def _size(n: int) -> bytes:
    return struct.pack("<I", n)


def _frees(guest: bridge.GuestModule) -> int:
    count: int = struct.unpack("<I", guest.call("t.v1.T/Frees", b""))[0]
    return count


def test_a_response_over_the_limit_is_resource_exhausted(guest: bridge.GuestModule) -> None:
    assert len(guest.call("t.v1.T/Sized", _size(LIMIT))) == LIMIT  # the limit itself is fine
    with pytest.raises(bridge.ResourceExhausted) as raised:
        guest.call("t.v1.T/Sized", _size(LIMIT + 1))
    assert str(raised.value) == (
        f"t.v1.T/Sized: response of {LIMIT + 1} bytes is over the limit of {LIMIT} bytes"
    )
    assert raised.value.method == "t.v1.T/Sized"
    # the guest broke no rule: the same instance answers the next call
    assert len(guest.call("t.v1.T/Sized", _size(3))) == 3


def test_a_refused_owned_response_is_freed(guest: bridge.GuestModule) -> None:
    before = _frees(guest)
    for _ in range(3):
        with pytest.raises(bridge.ResourceExhausted, match="response of 5000 bytes"):
            guest.call("t.v1.T/SizedOwned", _size(5000))
    assert _frees(guest) == before + 3


def test_requests_are_still_limited(guest: bridge.GuestModule) -> None:
    with pytest.raises(bridge.ResourceExhausted, match=f"request of {LIMIT + 1} bytes"):
        guest.call("t.v1.T/Sized", b"\0" * (LIMIT + 1))


def test_real_guests_answer_up_to_the_limit(faulty_wasm: Path) -> None:
    config = RuntimeConfig(cache_dir=None, max_message_bytes=LIMIT, pool_size=1)
    with bridge.load(faulty_wasm, config) as guest:
        assert guest.call(ECHO, b"e" * LIMIT) == b"e" * LIMIT
        with pytest.raises(bridge.ResourceExhausted):
            guest.call(ECHO, b"e" * (LIMIT + 1))
