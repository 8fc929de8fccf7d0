"""The codec tests' differential check, one for the Go and the Rust guest.

Any bytes go through kitchen.v1.Kitchen/Echo and Python's protobuf (upb), and
`bridge.conformance.judge` (the rule `bridge conformance` holds its echo guests to)
says whether the guest kept the rule: it refuses, with INVALID_ARGUMENT, exactly what
protobuf refuses (and a varint of more than 64 bits, which upb truncates), and reads
everything else as protobuf does, unknown fields dropped. Messages come from
`bridge.conformance.MessageGenerator`; the bytes around them from `mutations`,
`prefixes`, `padded_varints` and `NESTING`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any

import bridge
from bridge.conformance import CallFn, MessageGenerator, check_type, judge, varint
from bridge.errors import GuestError, GuestTrap, StatusCode

ECHO = "kitchen.v1.Kitchen/Echo"


def echo(guest: bridge.GuestModule) -> CallFn:
    """The guest's Echo, as `judge` calls it."""

    def call(request: bytes) -> bytes:
        return guest.call(ECHO, request)

    return call


def assert_agrees(pb2: ModuleType, call: CallFn, request: bytes) -> None:
    """Fail, with the input as hex, when the guest's answer breaks the rule."""
    reason = judge(pb2.Everything, request, call)
    assert reason is None, f"input {request.hex()}: {reason}"


def assert_round_trips(pb2: ModuleType, call: CallFn, messages: Iterable[Any]) -> None:
    """Every message comes back as it went (the conformance check, `check_type`)."""
    result = check_type("guest", pb2.Everything, (("message", m) for m in messages), call)
    assert result.failed == 0, (
        f"{result.failed} of {result.messages} failed; the first, "
        f"{result.first_failure}: {result.first_failure_reason}"
    )


def generated(pb2: ModuleType, count: int, seed: int) -> list[Any]:
    """MessageGenerator's Everything messages: edge cases, maximal, `count` random."""
    return [m for _, m in MessageGenerator(seed).messages(pb2.Everything, count)]


def random_messages(pb2: ModuleType, count: int, seed: int) -> list[Any]:
    """`count` random Everything messages only."""
    rng = random.Random(seed)
    generator = MessageGenerator(seed)
    return [generator.random_message(pb2.Everything, rng) for _ in range(count)]


def assert_rule_has_teeth(pb2: ModuleType, real: CallFn) -> None:
    """`assert_agrees` fails a guest that breaks the rule in any way: wrong verdicts,
    made up around the real guest `real`, are caught; the real ones pass."""
    garbage = b"\x0a\x05\x08"  # a length past the end: protobuf refuses it
    overflow = tag(99, 0) + b"\xff" * 9 + b"\x02"  # protobuf reads it (keeping 64 bits)
    valid = pb2.Everything(scalars=pb2.Scalars(f_int32=7, f_string="x")).SerializeToString()
    # A map entry with an unknown field (3): upb keeps the entry as unknown bytes, the
    # codecs keep the entry and drop the field.
    entry = ld(3, ld(1, tag(1, 0) + b"\x01" + ld(2, b"a") + tag(3, 0) + b"\x05"))

    def accepts(request: bytes) -> bytes:
        return real(b"")  # "accepted": an empty message back

    def refuses(message: str, code: StatusCode = StatusCode.INVALID_ARGUMENT) -> CallFn:
        def call(request: bytes) -> bytes:
            raise GuestError(code, message, method=ECHO)

        return call

    def traps(request: bytes) -> bytes:
        raise GuestTrap("wasm trap: unreachable", method=ECHO)

    def drops_the_string(request: bytes) -> bytes:
        reply = pb2.Everything.FromString(real(request))
        reply.scalars.ClearField("f_string")
        return reply.SerializeToString()  # type: ignore[no-any-return]

    wrong: list[tuple[str, bytes, CallFn]] = [
        ("accepts what protobuf refuses", garbage, accepts),
        ("accepts a varint over 64 bits", overflow, accepts),
        ("refuses a valid message", valid, refuses("cannot decode request: truncated message")),
        ("blames an overflow", valid, refuses("cannot decode request: varint overflows 64 bits")),
        ("refuses with another code", garbage, refuses("no", StatusCode.INTERNAL)),
        ("traps", garbage, traps),
        ("reads a field wrongly", valid, drops_the_string),
        ("reads unknown fields wrongly", entry, accepts),
    ]
    for what, request, call in wrong:
        try:
            assert_agrees(pb2, call, request)
        except AssertionError as exc:
            assert f"input {request.hex()}: " in str(exc), what
        else:
            raise AssertionError(f"a guest that {what} passed")
        assert_agrees(pb2, real, request)  # the real guest keeps the rule on it


# ---- bytes around valid messages ----


def padded(value: int, width: int) -> bytes:
    """`value` as a varint of `width` bytes (non-minimal: 0x80 continuations, then 0)."""
    out = bytearray(varint(value))
    while len(out) < width:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag(number, 2) + varint(len(payload)) + payload


def prefixes(data: bytes) -> Iterator[bytes]:
    """Every proper prefix of `data`: truncations everywhere."""
    for cut in range(len(data)):
        yield data[:cut]


_INTERESTING = (0x00, 0x01, 0x07, 0x0B, 0x0C, 0x0E, 0x0F, 0x7F, 0x80, 0xFF, 0xC3, 0x28)


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits: flip a bit, set a byte that means something on the
    wire, insert random bytes or a varint, delete a run, or cut the rest off."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) + 1)
        how = rng.randrange(6)
        if how == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif how == 1 and out:
            out[min(at, len(out) - 1)] = rng.choice([*_INTERESTING, rng.randrange(256)])
        elif how == 2:
            out[at:at] = rng.randbytes(rng.randint(1, 4))
        elif how == 3:
            out[at:at] = varint(rng.choice([2**31, 2**63, 2**64 - 1, rng.randrange(300)]))
        elif how == 4:
            del out[at : at + rng.randint(1, 8)]
        else:
            del out[at:]
    return bytes(out)


def mutations(seeds: list[bytes], count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(count):
        yield mutate(rng, rng.choice(seeds))


def padded_varints(desc: Any, data: bytes, width: int) -> Iterator[bytes]:
    """`data` (a valid `desc` message) once per tag and per length in it, at any depth,
    with that one varint written in `width` bytes; the rest minimal."""
    for target in itertools.count():
        out = _Rewrite(target, width).message(desc, data)
        if out is None:
            return
        yield out


class _Rewrite:
    """Re-encodes a message with its `target`-th varint (tags and lengths, in order)
    padded to `width` bytes."""

    def __init__(self, target: int, width: int) -> None:
        self.target, self.width = target, width
        self.seen = 0

    def varint(self, value: int) -> bytes:
        mine = self.seen == self.target
        self.seen += 1
        return padded(value, self.width) if mine else varint(value)

    def message(self, desc: Any, data: bytes) -> bytes | None:
        """The re-encoded message; None when it held no `target`-th varint."""
        out = bytearray()
        pos = 0
        while pos < len(data):
            key, pos = _read(data, pos)
            out += self.varint(key)
            number, wire = key >> 3, key & 7
            if wire == 2:
                size, pos = _read(data, pos)
                payload, pos = data[pos : pos + size], pos + size
                length_at = self.seen
                self.seen += 1  # the length's number, before those inside the payload
                f = desc.fields_by_number.get(number)
                if f is not None and f.message_type is not None:
                    payload = self.message(f.message_type, payload) or payload
                mine = length_at == self.target
                size = len(payload)
                out += (padded(size, self.width) if mine else varint(size)) + payload
                continue
            assert wire in (0, 1, 5), "valid messages hold no groups"
            end = _read(data, pos)[1] if wire == 0 else pos + (8 if wire == 1 else 4)
            out += data[pos:end]
            pos = end
        return bytes(out) if self.seen > self.target else None


def _read(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


# ---- nesting at the limit ----
#
# upb counts messages, map entries and groups alike toward one limit of 100: a field
# of the top-level message is at depth 1, a map's entry one deeper than the map's
# message, a group one deeper than the message (or group) it is in.

LIMIT = 100


def groups(count: int, number: int = 15) -> bytes:
    """`count` unknown groups, one inside the other."""
    return tag(number, 3) * count + tag(number, 4) * count


def nodes(count: int, inner: bytes = b"") -> bytes:
    """Everything.tree: `count` Nodes one inside the other (the n-th at depth n), with
    `inner` in the innermost."""
    node = inner
    for _ in range(count - 1):
        node = ld(3, node)  # Node.children
    return ld(5, node)


def _values(levels: int, inner: bytes) -> bytes:
    """A Value `levels` list_values deep around the Value `inner`: 2 levels each."""
    value = inner
    for _ in range(levels):
        value = ld(6, ld(1, value))  # Value.list_value -> ListValue.values
    return value


def _any_value(depth: int, fields: bytes) -> bytes:
    """Everything.well_known.any_value, down to a Value at `depth` (even, >= 2) whose
    fields are `fields`."""
    assert depth >= 2 and depth % 2 == 0
    return ld(6, ld(14, _values((depth - 2) // 2, fields)))


def _doc_value(depth: int, fields: bytes) -> bytes:
    """Everything.well_known.doc, down to a Value at `depth` (odd, >= 7) whose fields
    are `fields`: doc Struct (2), entry (3), Value (4), struct_value Struct (5), entry
    (6), Value (7), then list values."""
    assert depth >= 7 and depth % 2 == 1
    value = _values((depth - 7) // 2, fields)
    value = ld(5, _entry(value))
    return ld(6, ld(13, _entry(value)))


def _entry(value: bytes | None) -> bytes:
    """Struct.fields: one entry, key "k", with the Value `value` (None: no value)."""
    return ld(1, ld(1, b"k") + (b"" if value is None else ld(2, value)))


def _struct_chain(levels: int) -> bytes:
    """Everything.well_known.any_value: Values `levels` Structs deep, through map
    entries (3 levels each: Struct, entry, Value)."""
    value = b""
    for _ in range(levels):
        value = ld(5, _entry(value))
    return ld(6, ld(14, value))


def _nesting() -> dict[str, bytes]:
    cases: dict[str, bytes] = {}
    for n in (LIMIT - 1, LIMIT, LIMIT + 1):
        cases[f"{n} nodes"] = nodes(n)
    for n in (0, 1, 2, 50, LIMIT - 1, LIMIT):
        for g in (LIMIT - n, LIMIT + 1 - n):
            if g > 0:
                where = "Everything" if n == 0 else f"node {n}"
                cases[f"{g} group(s) in {where}"] = nodes(n, groups(g)) if n else groups(g)
    # Struct, entry, Value: Values at 2 + 3k, so 32 levels fit and 33 do not.
    for levels in (32, 33):
        cases[f"{levels} Structs through map entries"] = _struct_chain(levels)
    # Map entries at the limit: a Struct at 100 (from a Value at 99) may be empty, but
    # its entry would be at 101; a Struct at 99 may hold an entry (100), not its Value.
    cases["an empty Struct at depth 100"] = _doc_value(99, ld(5, b""))
    cases["a map entry at depth 101, key only"] = _doc_value(99, ld(5, _entry(None)))
    cases["a map entry at depth 100, key only"] = _any_value(98, ld(5, _entry(None)))
    cases["a map entry at depth 100, its Value at 101"] = _any_value(98, ld(5, _entry(b"")))
    # Groups in a map entry (Maps is at 1, the entry at 2).
    for g in (LIMIT - 2, LIMIT - 1):
        cases[f"{g} group(s) in a map entry"] = ld(3, ld(1, tag(1, 0) + b"\x01" + groups(g)))
    return cases


NESTING = _nesting()
