"""The differential check's corpora, against Python's protobuf alone: they must hold
what they claim, or the guest tests built on them prove nothing."""

from __future__ import annotations

from types import ModuleType

from .differential import NESTING, padded_varints, random_messages


def _parses(pb2: ModuleType, data: bytes) -> bool:
    try:
        pb2.Everything.FromString(data)
    except Exception:
        return False
    return True


def test_nesting_cases_straddle_upbs_limit(kitchen_pb2: ModuleType) -> None:
    """Each family has a case at the limit (read) and one past it (refused): upb counts
    messages, map entries and groups alike, to 100."""
    verdicts = {name: _parses(kitchen_pb2, data) for name, data in NESTING.items()}
    assert verdicts == {
        "99 nodes": True,
        "100 nodes": True,
        "101 nodes": False,
        "100 group(s) in Everything": True,
        "101 group(s) in Everything": False,
        "99 group(s) in node 1": True,
        "100 group(s) in node 1": False,
        "98 group(s) in node 2": True,
        "99 group(s) in node 2": False,
        "50 group(s) in node 50": True,
        "51 group(s) in node 50": False,
        "1 group(s) in node 99": True,
        "2 group(s) in node 99": False,
        "1 group(s) in node 100": False,
        "32 Structs through map entries": True,
        "33 Structs through map entries": False,
        "an empty Struct at depth 100": True,
        "a map entry at depth 101, key only": False,
        "a map entry at depth 100, key only": True,
        "a map entry at depth 100, its Value at 101": False,
        "98 group(s) in a map entry": True,
        "99 group(s) in a map entry": False,
    }


def test_padded_varints(kitchen_pb2: ModuleType) -> None:
    """One variant per tag and per length, at any depth: in 5 bytes upb reads the same
    message, in 6 it refuses every one."""
    desc = kitchen_pb2.Everything.DESCRIPTOR
    message = max(random_messages(kitchen_pb2, 4, seed=1), key=lambda m: m.ByteSize())
    data = message.SerializeToString()
    at_5 = list(padded_varints(desc, data, 5))
    at_6 = list(padded_varints(desc, data, 6))
    assert len(at_5) == len(at_6) > 100
    # The same message; its unknown fields, which upb keeps as they were, aside.
    message.DiscardUnknownFields()
    canonical = message.SerializeToString(deterministic=True)
    for variant in at_5:
        assert len(variant) >= len(data)  # longer, unless that varint had 5 bytes already
        parsed = kitchen_pb2.Everything.FromString(variant)
        parsed.DiscardUnknownFields()
        assert parsed.SerializeToString(deterministic=True) == canonical
    assert not any(_parses(kitchen_pb2, variant) for variant in at_6)
