from __future__ import annotations

import pytest

from bridge import abi


@pytest.mark.parametrize(
    ("ptr", "length", "borrowed", "error"),
    [
        (0, 0, False, False),
        (0x10, 3, False, True),
        (0xFFFF_FFFF, abi.MAX_MESSAGE_LEN, True, True),
        (1, 1, True, False),
    ],
)
def test_pack_unpack_round_trip(ptr: int, length: int, borrowed: bool, error: bool) -> None:
    raw = abi.pack(ptr, length, borrowed=borrowed, error=error)
    assert raw < 1 << 64
    assert abi.unpack(raw) == abi.Result(ptr, length, borrowed, error)
    # wasm hands the host a signed i64; both readings must agree.
    signed = raw - (1 << 64) if raw >= 1 << 63 else raw
    assert abi.unpack(signed) == abi.Result(ptr, length, borrowed, error)


def test_bit_layout_is_the_documented_one() -> None:
    assert abi.pack(0x10, 3) == 0x0000_0003_0000_0010
    assert abi.pack(0, 0, borrowed=True) == 1 << 62
    assert abi.pack(0, 0, error=True) == 1 << 63


@pytest.mark.parametrize(("ptr", "length"), [(-1, 0), (1 << 32, 0), (0, 1 << 30), (0, -1)])
def test_pack_rejects_what_does_not_fit(ptr: int, length: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        abi.pack(ptr, length)


def test_markers() -> None:
    assert abi.marker_name() == "bridge_abi_v1"
    assert abi.marker_version("bridge_abi_v1") == 1
    assert abi.marker_version("bridge_abi_v12") == 12
    for name in ("bridge_abi_v", "bridge_abi_vx", "xbridge_abi_v1", "bridge_abi_v1 "):
        assert abi.marker_version(name) is None


@pytest.mark.parametrize(
    ("name", "is_method"),
    [
        ("pricing.v1.Pricing/Quote", True),
        ("Echo/Say", True),
        ("malloc", False),
        ("/Quote", False),
        ("pricing.v1.Pricing/", False),
        ("a/b/c", False),
    ],
)
def test_method_export_names(name: str, is_method: bool) -> None:
    assert abi.is_method_export(name) is is_method
