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


def test_stream_and_context_constants() -> None:
    """docs/abi.md sections 14 and 15: flags are bits, answers are the documented ones."""
    assert (abi.RECV_END, abi.RECV_COMPRESSED) == (1 << 0, 1 << 1)
    assert abi.SEND_UNCOMPRESSED == 1 << 0
    assert abi.STREAM_CLOSED == 1
    assert (abi.METADATA_HEADER, abi.METADATA_TRAILER, abi.METADATA_REFUSED) == (0, 1, -1)
    assert (abi.COMPRESSION_NONE, abi.COMPRESSION_GZIP) == (0, 2)  # grpc_compression_algorithm
    assert abi.NO_DEADLINE == -1
    assert (abi.STREAM_WINDOW_MESSAGES, abi.STREAM_WINDOW_BYTES) == (64, 4 << 20)
    imports = {
        abi.IMPORT_STREAM_RECV,
        abi.IMPORT_STREAM_SEND,
        abi.IMPORT_CALL_INFO,
        abi.IMPORT_DEADLINE,
        abi.IMPORT_SET_METADATA,
        abi.IMPORT_SET_COMPRESSION,
        abi.IMPORT_HOST_CALL,
        abi.IMPORT_HOST_RESULT,
    }
    assert len(imports) == 8


def test_stream_recv_results_use_the_call_layout() -> None:
    # A pending message of 5 bytes that came compressed: len in bits 32-61, flags low.
    message = abi.unpack(5 << abi.LEN_SHIFT | abi.RECV_COMPRESSED)
    assert (message.length, message.ptr, message.error) == (5, abi.RECV_COMPRESSED, False)
    # The call is over: an error envelope of 12 bytes is pending.
    over = abi.unpack(abi.pack(0, 12, error=True) - (1 << 64))
    assert (over.length, over.error) == (12, True)


def test_every_name_in_all_exists() -> None:
    for name in abi.__all__:
        assert hasattr(abi, name), name
