"""`bridge conformance`: the CLI on kitchen.proto and grpc's examples, and the library's
generator and checker on their own (with stand-in guests, no build)."""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from bridge import conformance
from bridge.conformance import (
    EchoPlan,
    MessageGenerator,
    TypeResult,
    check_messages,
    check_type,
    prepare,
    synthetic_proto,
)
from bridge.errors import GuestError, GuestTrap, StatusCode
from bridge.guest import toolchain
from bridge.schema.messages import MessageTypes
from bridge.schema.model import Schema

from ..cli.conftest import assert_one_line_error, no_toolchains, run  # noqa: F401
from ..conftest import has_go, has_rust

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "proto" / "examples"
KITCHEN = EXAMPLES / "kitchen" / "v1" / "kitchen.proto"
HELLO = EXAMPLES / "grpc" / "helloworld" / "helloworld.proto"
ROUTE_GUIDE = EXAMPLES / "grpc" / "route_guide" / "route_guide.proto"
KITCHEN_TYPES = [
    "kitchen.v1.Scalars",
    "kitchen.v1.Repeated",
    "kitchen.v1.Maps",
    "kitchen.v1.Presence",
    "kitchen.v1.Node.Label",
    "kitchen.v1.Node",
    "kitchen.v1.WellKnown",
    "kitchen.v1.Everything",
]

needs_both = pytest.mark.skipif(
    not (has_go() and has_rust()), reason="needs the Go and the Rust toolchains"
)


# ---- the command, with real guests ----


@needs_both
def test_kitchen_passes_in_go_and_rust() -> None:
    ran = run(
        "conformance", "-I", str(EXAMPLES), str(KITCHEN), "--lang", "go,rust", "--count", "25",
        "--json",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["files"] == ["kitchen/v1/kitchen.proto"]
    assert (report["count"], report["seed"], report["ok"], report["skipped"]) == (25, 0, True, [])
    results = report["results"]
    assert [(r["language"], r["message_type"]) for r in results] == [
        (language, name) for language in ("go", "rust") for name in KITCHEN_TYPES
    ]
    for r in results:
        assert r["messages"] > 25  # the edge cases, the maximal message, 25 random ones
        assert r["passed"] == r["messages"], r
        assert r["failed"] == 0
        assert r["first_failure"] is None
    # Progress goes to stderr, one line per step off a terminal.
    assert "building the go conformance guest ..." in ran.stderr
    assert "checking 8 message types in rust ..." in ran.stderr


@needs_both
def test_helloworld_passes_in_go_and_rust() -> None:
    ran = run("conformance", str(HELLO), "--count", "50")
    assert ran.exit_code == 0, ran.stderr
    rows = [line.split() for line in ran.stdout.splitlines() if line.strip()]
    assert rows[0] == ["language", "message", "type", "messages", "passed", "failed", "first"] + [
        "failure"
    ]
    body = [r for r in rows[1:] if r[0] in ("go", "rust")]
    assert [(r[0], r[1]) for r in body] == [
        ("go", "helloworld.HelloRequest"),
        ("go", "helloworld.HelloReply"),
        ("rust", "helloworld.HelloRequest"),
        ("rust", "helloworld.HelloReply"),
    ]
    for _, _, messages, passed, failed in body:
        assert int(messages) > 50 and passed == messages and failed == "0"


def test_route_guide_is_checked_though_it_has_streaming_rpcs() -> None:
    """Its unary RPC and three streaming ones: every message type is checked, in both
    languages (bridge gen no longer refuses a schema for its streaming RPCs)."""
    ran = run(
        "conformance", "-I", str(EXAMPLES / "grpc"), str(ROUTE_GUIDE), "--count", "5", "--json"
    )
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["ok"] is True
    checked = {(row["language"], row["message_type"]) for row in report["results"]}
    for language in ("go", "rust"):
        for message in ("Point", "Rectangle", "Feature", "RouteNote", "RouteSummary"):
            assert (language, f"routeguide.{message}") in checked


def test_help_has_an_example() -> None:
    ran = run("conformance", "--help")
    assert ran.exit_code == 0
    assert "Example:" in ran.stdout
    assert "bridge conformance -I proto proto/pricing/v1/pricing.proto" in ran.stdout


def test_unknown_language_is_a_usage_error() -> None:
    ran = run("conformance", str(HELLO), "--lang", "go,java")
    assert ran.exit_code == 2
    assert "java" in ran.stderr


@pytest.mark.usefixtures("no_toolchains")
def test_a_language_asked_for_must_have_its_toolchain() -> None:
    ran = run("conformance", str(HELLO), "--lang", "rust")
    assert_one_line_error(ran, "Rust cannot build wasm32-unknown-unknown")


@pytest.mark.usefixtures("no_toolchains")
def test_missing_toolchains_are_skipped_by_default() -> None:
    ran = run("conformance", str(HELLO), "--json")
    assert ran.exit_code == 1
    report = json.loads(ran.stdout)
    assert report["results"] == []
    assert [s["language"] for s in report["skipped"]] == ["go", "rust"]
    assert report["skipped"][0]["reason"].startswith("Go is not installed")
    assert "skipped rust: Rust cannot build" in ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == "error: no language could be checked"


@pytest.mark.skipif(not has_go(), reason="no Go toolchain")
def test_a_missing_toolchain_is_skipped_and_the_other_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(toolchain, "RUST_DIRS", [])
    monkeypatch.setattr(toolchain, "TINYGO_DIRS", [])
    toolchain.find_rust.cache_clear()
    toolchain.find_tinygo.cache_clear()
    try:
        ran = run("conformance", str(HELLO), "--count", "5", "--json")
    finally:
        toolchain.find_rust.cache_clear()
        toolchain.find_tinygo.cache_clear()
    assert ran.exit_code == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert {r["language"] for r in report["results"]} == {"go"}
    assert [s["language"] for s in report["skipped"]] == ["rust"]
    assert "skipped rust: Rust cannot build wasm32-unknown-unknown" in ran.stderr


@pytest.mark.skipif(not has_go(), reason="no Go toolchain")
def test_the_command_fails_on_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Go guest, seen through a call that corrupts one type's replies."""
    real = conformance.check_messages

    def corrupting(
        language: str, plan: EchoPlan, call: Callable[[str, bytes], bytes], **kw: Any
    ) -> list[TypeResult]:
        def broken(method: str, request: bytes) -> bytes:
            reply = call(method, request)
            if method == plan.methods["helloworld.HelloReply"]:
                return reply + b"\x0a\x01!"  # message = "!": the last value wins
            return reply

        return real(language, plan, broken, **kw)

    monkeypatch.setattr(conformance, "check_messages", corrupting)
    ran = run("conformance", str(HELLO), "--lang", "go", "--count", "5")
    assert ran.exit_code == 1
    rows = {line.split()[1]: line for line in ran.stdout.splitlines() if line.strip()[:2] == "go"}
    messages, passed, failed = rows["helloworld.HelloRequest"].split()[2:5]
    assert (passed, failed) == (messages, "0")
    assert rows["helloworld.HelloReply"].split()[2:7] == [
        *(messages, "0", messages),
        *("empty:", "the"),
    ]
    assert (
        "empty: the reply differs in message; input ... (0 bytes)" in rows["helloworld.HelloReply"]
    )
    assert "Traceback" not in ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == (
        "error: 1 message type(s) did not come back unchanged: helloworld.HelloReply (go)"
    )


# ---- the synthetic schema ----


@pytest.fixture(scope="module")
def kitchen_plan(tmp_path_factory: pytest.TempPathFactory) -> EchoPlan:
    return prepare([KITCHEN], [EXAMPLES], tmp_path_factory.mktemp("plan"))


def test_synthetic_proto() -> None:
    text = synthetic_proto(["a/b.proto"], ["a.B", "a.B.C"])
    assert 'import "a/b.proto";' in text
    assert "package bridge.conformance;" in text
    assert "rpc Echo_0(.a.B) returns (.a.B);" in text
    assert "rpc Echo_1(.a.B.C) returns (.a.B.C);" in text


def test_plan_has_one_echo_method_per_type(kitchen_plan: EchoPlan) -> None:
    assert list(kitchen_plan.methods) == KITCHEN_TYPES
    assert kitchen_plan.methods["kitchen.v1.Scalars"] == "bridge.conformance.Conformance/Echo_0"
    service = kitchen_plan.schema.services[kitchen_plan.service]
    assert [(m.input, m.output) for m in service.methods] == [(t, t) for t in KITCHEN_TYPES]


# ---- the checker, with stand-in guests ----


def _corrupt_scalars(method: str, request: bytes, plan: EchoPlan) -> bytes:
    """An echo whose codec for kitchen.v1.Scalars turns a positive f_int32 negative."""
    if method != plan.methods["kitchen.v1.Scalars"]:
        return request
    cls = MessageTypes(plan.schema).message_class("kitchen.v1.Scalars")
    message = cls.FromString(request)
    if message.f_int32 > 0:  # type: ignore[attr-defined]
        message.f_int32 = -message.f_int32  # type: ignore[attr-defined]
    return message.SerializeToString()


def test_a_broken_codec_is_caught(kitchen_plan: EchoPlan) -> None:
    results = check_messages(
        "go", kitchen_plan, lambda m, r: _corrupt_scalars(m, r, kitchen_plan), count=30
    )
    assert [r.message_type for r in results] == KITCHEN_TYPES
    broken = {r.message_type: r for r in results if r.failed}
    assert list(broken) == ["kitchen.v1.Scalars"]
    scalars = broken["kitchen.v1.Scalars"]
    assert 0 < scalars.failed < scalars.messages
    assert scalars.passed + scalars.failed == scalars.messages
    assert scalars.first_failure_reason == "the reply differs in f_int32"
    assert scalars.first_failure is not None and scalars.first_failure_kind is not None
    # The first failing input is the request as sent: it fails again on its own.
    cls = MessageTypes(kitchen_plan.schema).message_class("kitchen.v1.Scalars")
    failing = cls.FromString(bytes.fromhex(scalars.first_failure))
    assert failing.f_int32 > 0  # type: ignore[attr-defined]
    again = check_type(
        "go",
        cls,
        [("again", failing)],
        lambda r: _corrupt_scalars(kitchen_plan.methods["kitchen.v1.Scalars"], r, kitchen_plan),
    )
    assert (again.failed, again.first_failure) == (1, scalars.first_failure)


def test_traps_and_garbage_are_failures(kitchen_plan: EchoPlan) -> None:
    cls = MessageTypes(kitchen_plan.schema).message_class("kitchen.v1.Node")
    messages = [("one", cls(kind=1)), ("two", cls(kind=2))]

    def trap(request: bytes) -> bytes:
        raise GuestTrap("wasm trap: unreachable\n  at frame 1", method="m")

    trapped = check_type("rust", cls, messages, trap)
    assert (trapped.messages, trapped.passed, trapped.failed) == (2, 0, 2)
    assert trapped.first_failure == "0801"
    assert trapped.first_failure_reason == "GuestTrap: wasm trap: unreachable at frame 1"
    garbage = check_type("rust", cls, messages, lambda r: b"\xff")
    assert garbage.failed == 2
    assert garbage.first_failure_reason is not None
    assert garbage.first_failure_reason.startswith("the reply does not decode")
    same = check_type("rust", cls, messages, lambda r: r)
    assert (same.passed, same.failed, same.first_failure) == (2, 0, None)


def test_negative_zero_and_nan_are_compared_by_their_bits(kitchen_plan: EchoPlan) -> None:
    cls = MessageTypes(kitchen_plan.schema).message_class("kitchen.v1.Scalars")
    negative_zero = cls(f_double=-0.0)
    nan = cls(f_float=math.nan)
    dropped = check_type("go", cls, [("-0.0", negative_zero)], lambda r: b"")
    assert dropped.failed == 1  # parse-equal (-0.0 == 0.0), but not the same message
    assert check_type("go", cls, [("nan", nan)], lambda r: r).failed == 0


# ---- the generator ----


def _all(plan: EchoPlan, name: str, count: int = 0, seed: int = 0) -> list[Message]:
    cls = MessageTypes(plan.schema).message_class(name)
    return [m for _, m in MessageGenerator(seed).messages(cls, count)]


def _values(messages: list[Message], field: str) -> list[Any]:
    """The values `field` has in `messages`, where it is set."""
    presence = messages[0].DESCRIPTOR.fields_by_name[field].has_presence
    return [getattr(m, field) for m in messages if not presence or m.HasField(field)]


def test_edge_values_cover_the_scalar_kinds(kitchen_plan: EchoPlan) -> None:
    scalars = _all(kitchen_plan, "kitchen.v1.Scalars")
    assert {-(2**31), 2**31 - 1} <= set(_values(scalars, "f_int32"))
    assert {-(2**63), 2**63 - 1} <= set(_values(scalars, "f_sint64"))
    assert {0, 2**64 - 1} <= set(_values(scalars, "f_fixed64"))
    doubles = [struct.pack("<d", v) for v in _values(scalars, "f_double")]
    for special in (-0.0, math.inf, -math.inf, math.nan, 5e-324):
        assert struct.pack("<d", special) in doubles, special
    strings = _values(scalars, "f_string")
    assert "" in strings and any(len(s) > 65536 for s in strings)
    assert any("\U0001f600" in s for s in strings)
    # Every Color and an unknown number.
    assert {0, 1, 2, -1, 3} <= set(_values(scalars, "f_color"))
    repeated = _all(kitchen_plan, "kitchen.v1.Repeated")
    lengths = {len(m.r_int32) for m in repeated}  # type: ignore[attr-defined]
    assert {0, 1} <= lengths and max(lengths) >= 100


def test_edge_cases_cover_presence_oneofs_and_maps(kitchen_plan: EchoPlan) -> None:
    presence = _all(kitchen_plan, "kitchen.v1.Presence")
    assert presence[0].ListFields() == []  # the empty message first
    cases = {m.WhichOneof("choice") for m in presence}
    assert cases == {None, "c_string", "c_int64", "c_message", "c_color", "c_bytes"}
    defaults = [m for m in presence if m.HasField("o_int32") and m.o_int32 == 0]  # type: ignore[attr-defined]
    assert defaults, "an optional field set to its default"
    assert any(m.HasField("c_int64") and m.c_int64 == 0 for m in presence)  # type: ignore[attr-defined]
    maps = _all(kitchen_plan, "kitchen.v1.Maps")
    keys = {k for m in maps for k in m.m_sint64}  # type: ignore[attr-defined]
    assert {-(2**63), 2**63 - 1, 0} <= keys
    assert any(len(m.m_bool) == 2 for m in maps)  # type: ignore[attr-defined]
    assert any("" in m.m_string for m in maps)  # type: ignore[attr-defined]


def _depth(message: Message) -> int:
    deepest = 0
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            children = (
                list(value.values())
                if field.message_type.fields_by_name["value"].message_type
                else []
            )
        else:
            children = list(value) if field.is_repeated else [value]
        for child in children:
            deepest = max(deepest, 1 + _depth(child))
    return deepest


def test_maximal_and_random_messages(kitchen_plan: EchoPlan) -> None:
    cls = MessageTypes(kitchen_plan.schema).message_class("kitchen.v1.Everything")
    maximal = MessageGenerator().maximal(cls)
    assert len(maximal.ListFields()) == len(cls.DESCRIPTOR.fields)
    assert 3 <= _depth(maximal) <= 6
    first = [
        m.SerializeToString(deterministic=True)
        for m in _all(kitchen_plan, cls.DESCRIPTOR.full_name, 40)
    ]
    again = [
        m.SerializeToString(deterministic=True)
        for m in _all(kitchen_plan, cls.DESCRIPTOR.full_name, 40)
    ]
    other = [
        m.SerializeToString(deterministic=True)
        for m in _all(kitchen_plan, cls.DESCRIPTOR.full_name, 40, seed=1)
    ]
    assert first == again  # the seed decides
    assert first[-40:] != other[-40:]
    assert len(set(first[-40:])) > 30  # and they differ from one another


# ---- proto2, unknown fields and the rule's documented differences (stand-in guests) ----

PROTO2_ROOT = Path(__file__).with_name("proto")
PROTO2 = PROTO2_ROOT / "bridge_test" / "proto2.proto"


@pytest.fixture(scope="module")
def proto2_types() -> MessageTypes:
    return MessageTypes(Schema.compile([PROTO2], [PROTO2_ROOT]))


def _upb_echo(cls: type[Message]) -> Callable[[bytes], bytes]:
    """A guest that reads and writes as upb does (refusing what it refuses)."""

    def call(request: bytes) -> bytes:
        message = cls()
        try:
            message.MergeFromString(request)
        except Exception as exc:
            raise GuestError(StatusCode.INVALID_ARGUMENT, str(exc), method="Echo") from exc
        if not message.IsInitialized():
            raise GuestError(StatusCode.INVALID_ARGUMENT, "missing required", method="Echo")
        return message.SerializeToString()

    return call


def test_proto2_messages_are_complete_and_carry_unknown_fields(proto2_types: MessageTypes) -> None:
    """Required fields set at every depth, closed enums' declared values only, groups and
    declared extensions filled, unknown fields at some depth of many random messages."""
    from google.protobuf.unknown_fields import UnknownFieldSet

    generator = MessageGenerator(3)
    required = proto2_types.message_class("bridge_test.proto2.Required")
    messages: list[Any] = [m for _, m in generator.messages(required, 60)]
    assert all(m.IsInitialized() for m in messages)
    assert any(m.HasField("inner") and m.inner.HasField("x") for m in messages)  # a group
    assert sum(1 for m in messages if len(UnknownFieldSet(m))) > 10
    closed = proto2_types.message_class("bridge_test.proto2.Closed")
    declared = {1, 2, 5}
    for _, c in generator.messages(closed, 60):
        m: Any = c
        assert not m.HasField("one") or m.one in declared
        assert set(m.many) <= declared and set(m.packed) <= declared
    groups = proto2_types.message_class("bridge_test.proto2.Groups")
    edge = dict(generator.edge_cases(groups))
    extensions = edge["extensions set"]
    assert len(extensions.ListFields()) == 5  # every declared extension
    unknown = edge["unknown fields of every wire type"]
    fields = UnknownFieldSet(unknown)
    assert {fields[i].wire_type for i in range(len(fields))} == {0, 1, 2, 3, 5}


def test_the_rule_keeps_unknown_fields(proto2_types: MessageTypes) -> None:
    cls = proto2_types.message_class("bridge_test.proto2.Defaults")
    request = cls(i32=5).SerializeToString() + conformance.varint(99 << 3) + b"\x01"
    upb = _upb_echo(cls)
    assert conformance.judge(cls, request, upb) is None

    def drops(request: bytes) -> bytes:
        message = cls.FromString(request)
        message.DiscardUnknownFields()
        return message.SerializeToString()

    assert conformance.judge(cls, request, drops) == (
        "the reply differs in its unknown fields or extensions"
    )


def test_a_missing_required_field_must_be_refused(proto2_types: MessageTypes) -> None:
    """upb's Python reads it partially, protobuf C++ refuses it: so must the codecs."""
    cls = proto2_types.message_class("bridge_test.proto2.Required")
    request = cls(id=1, name="a", child=cls(id=2)).SerializePartialToString()  # child.name
    assert conformance.judge(cls, request, _upb_echo(cls)) is None
    assert (conformance.judge(cls, request, lambda r: r) or "").startswith(
        "the guest accepted what protobuf refuses (missing required fields"
    )


def test_the_documented_differences_pass_and_only_they(proto2_types: MessageTypes) -> None:
    """A map entry with an unknown field inside (kept, the field dropped), declared
    extensions kept as unknown bytes, field number 0 in an unknown group refused."""
    tag = conformance.varint
    closed = proto2_types.message_class("bridge_test.proto2.Closed")
    entry = tag(1 << 3) + b"\x07" + tag(2 << 3) + b"\x01" + tag(3 << 3) + b"\x05"
    request = tag(4 << 3 | 2) + bytes([len(entry)]) + entry

    def codec(request: bytes) -> bytes:  # keeps the entry, drops the field inside
        return closed(levels={7: 1}).SerializeToString()

    assert conformance.judge(closed, request, codec) is None
    assert conformance.judge(closed, request, _upb_echo(closed)) is None
    assert conformance.judge(closed, request, lambda r: b"") is not None

    groups = proto2_types.message_class("bridge_test.proto2.Groups")
    bad = tag(102 << 3 | 2) + b"\x01\x08"  # ext_required: a truncated varint inside
    assert conformance.judge(groups, bad, _upb_echo(groups)) is None  # upb refuses it
    assert conformance.judge(groups, bad, lambda r: r) is None  # kept as unknown bytes
    assert conformance.judge(groups, bad + b"\x00", lambda r: r) is not None  # tag 0

    zero = tag(40 << 3 | 3) + b"\x00\x00" + tag(40 << 3 | 4)  # upb reads it
    assert conformance.judge(groups, zero, _upb_echo(groups)) is None
    refuse = _refuse("field number 0")
    assert conformance.judge(groups, zero, refuse) is None
    assert conformance.judge(groups, tag(40 << 3 | 3) + tag(40 << 3 | 4), refuse) is not None

    # Invalid UTF-8 in a proto2 string: protobuf reads it; a codec may refuse it only
    # when it says so (generated Rust).
    defaults = proto2_types.message_class("bridge_test.proto2.Defaults")
    invalid = tag(7 << 3 | 2) + b"\x01\xff"
    assert conformance.judge(defaults, invalid, _upb_echo(defaults)) is None
    assert conformance.judge(defaults, invalid, refuse) is not None
    assert conformance.judge(defaults, invalid, refuse, proto2_utf8=True) is None
    valid = tag(7 << 3 | 2) + b"\x01a"
    assert conformance.judge(defaults, valid, refuse, proto2_utf8=True) is not None


def _refuse(message: str) -> Callable[[bytes], bytes]:
    def call(request: bytes) -> bytes:
        raise GuestError(StatusCode.INVALID_ARGUMENT, message, method="Echo")

    return call
