"""Host calls reach only declared methods, and are held to the call's limits (issue 11,
item 4): a guest names host methods at run time, so the schema is the allow-list; a
host answer over `max_message_bytes`, a host method that raises past its status
(SystemExit, KeyboardInterrupt) and one that outlives the call's deadline each fail that
call, typed, and the instance that made it is discarded.

The real hostcall guests (tests/guests/hostcall-{go,rust}) relay to any host method by
name; their `Dirty` method answers 1 on an instance whose call failed in a host call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.hostcalls import HostContext
from bridge.schema.embed import SECTION_NAME, embed, sections
from bridge.schema.messages import MessageTypes
from bridge.schema.model import Schema
from tests.conftest import ROOT, _build_or_skip
from tests.runtime.test_hostcalls import IMPORTS, _data
from tests.wat import wat_module

GUESTS = ROOT / "tests" / "guests"
Blob: Any = MessageTypes(
    Schema.from_descriptor_set((GUESTS / "hostcall-go" / "bridge-schema.binpb").read_bytes())
).message_class("legacy.v1.Blob")
LIMIT = 64 << 10


class Echo:
    """legacy.v1.Echo with methods the schema does not declare, which must stay out of
    the guest's reach."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    def Say(self, request: Any, context: HostContext) -> Any:  # noqa: N802 (grpc's names)
        return Blob(data=b"echo:" + request.data)

    def Huge(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        return Blob(data=b"x" * (LIMIT + 1))

    def Exit(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        raise SystemExit(3)

    def Interrupt(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        raise KeyboardInterrupt("Ctrl-C in the legacy code")

    def Slow(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        time.sleep(1.0)
        return Blob(data=b"late")

    def Undeclared(self, request: Any, context: HostContext) -> Any:  # noqa: N802
        self.reached.append("Undeclared")
        return b"public, but not in the schema"

    def _secret(self, request: Any, context: HostContext) -> Any:
        self.reached.append("_secret")
        return b"private"


@pytest.fixture(scope="module", params=["go", "rust"])
def hosted_wasm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    name = f"hostcall-{request.param}"
    return _build_or_skip(GUESTS / name, tmp_path_factory.mktemp(name) / f"{name}.wasm")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


def _load(wasm: Path, cache: Path, host: object, **settings: Any) -> bridge.GuestModule:
    config = RuntimeConfig(cache_dir=cache, pool_size=1, **settings)
    return bridge.load(wasm, config, host={"legacy.v1.Echo": host})


def _relay(guest: bridge.GuestModule, method: str, data: bytes = b"", **kw: Any) -> bytes:
    request = method.encode() + b"\n" + Blob(data=data).SerializeToString()
    return bytes(Blob.FromString(guest.call("test.v1.Hosted/Relay", request, **kw)).data)


def _discarded_and_replaced(guest: bridge.GuestModule) -> None:
    assert guest.call("test.v1.Hosted/Dirty", b"") == b"\x00"
    assert _relay(guest, "legacy.v1.Echo/Say", b"after") == b"echo:after"


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def hosted(hosted_wasm: Path, cache: Path, echo: Echo) -> Iterator[bridge.GuestModule]:
    with _load(hosted_wasm, cache, echo, max_message_bytes=LIMIT) as guest:
        yield guest


@pytest.mark.parametrize(
    "name", ["_secret", "Undeclared", "__init__", "__class__", "Say/../_secret", ""]
)
def test_a_guest_reaches_only_the_methods_its_schema_declares(
    hosted: bridge.GuestModule, echo: Echo, name: str
) -> None:
    with pytest.raises(bridge.GuestError) as info:
        _relay(hosted, f"legacy.v1.Echo/{name}")
    assert info.value.code is bridge.StatusCode.UNIMPLEMENTED
    assert info.value.status_message == f"the host does not implement legacy.v1.Echo/{name}"
    assert echo.reached == []
    assert _relay(hosted, "legacy.v1.Echo/Say", b"hi") == b"echo:hi"


def test_host_services_need_the_module_schema(
    hosted_wasm: Path, cache: Path, tmp_path: Path
) -> None:
    wasm = hosted_wasm.read_bytes()
    kept = [wasm[start:end] for _, start, end, name in sections(wasm) if name != SECTION_NAME]
    bare = tmp_path / "no-schema.wasm"
    bare.write_bytes(wasm[:8] + b"".join(kept))
    with pytest.raises(bridge.LoadError) as info:
        _load(bare, cache, Echo())
    assert str(info.value) == (
        "no-schema.wasm has no embedded schema, so the host cannot tell which methods of "
        "legacy.v1.Echo its guest may call: build it with `bridge build` in a project where "
        "`bridge gen` wrote its bridge-schema.binpb (docs/abi.md section 11), or load it "
        "without host services"
    )
    # Without host services it loads, and every host method is UNIMPLEMENTED.
    with bridge.load(bare, RuntimeConfig(cache_dir=cache, pool_size=1)) as guest:
        with pytest.raises(bridge.GuestError) as unimplemented:
            guest.call("test.v1.Hosted/Relay", b"legacy.v1.Echo/_secret\n")
        assert unimplemented.value.code is bridge.StatusCode.UNIMPLEMENTED


def test_a_host_answer_over_the_limit_fails_the_call(hosted: bridge.GuestModule) -> None:
    with pytest.raises(bridge.ResourceExhausted) as info:
        _relay(hosted, "legacy.v1.Echo/Huge")
    size = len(Blob(data=b"x" * (LIMIT + 1)).SerializeToString())
    assert str(info.value) == (
        f"test.v1.Hosted/Relay: host method legacy.v1.Echo/Huge answered with {size} "
        f"bytes, over the limit of {LIMIT} bytes (max_message_bytes)"
    )
    _discarded_and_replaced(hosted)


@pytest.mark.parametrize(
    ("name", "raised"),
    [("Exit", "SystemExit: 3"), ("Interrupt", "KeyboardInterrupt: Ctrl-C in the legacy code")],
)
def test_a_host_method_that_raises_past_its_status_fails_only_that_call(
    hosted: bridge.GuestModule, name: str, raised: str
) -> None:
    with pytest.raises(bridge.HostCallFailed) as info:
        _relay(hosted, f"legacy.v1.Echo/{name}")
    assert str(info.value) == (
        f"test.v1.Hosted/Relay: host method legacy.v1.Echo/{name} raised {raised}"
    )
    assert isinstance(info.value.__cause__, SystemExit | KeyboardInterrupt)
    _discarded_and_replaced(hosted)


@pytest.mark.parametrize("per_call", [False, True])
def test_a_host_call_that_outlives_the_deadline_fails_the_call(
    hosted_wasm: Path, cache: Path, per_call: bool
) -> None:
    # The host method sleeps 1 s; the deadline is 0.2 s, from the config or the call.
    settings: dict[str, Any] = {"call_timeout_s": None if per_call else 0.2}
    with _load(hosted_wasm, cache, Echo(), **settings) as guest:
        with pytest.raises(bridge.DeadlineExceeded) as info:
            _relay(guest, "legacy.v1.Echo/Slow", timeout_s=0.2 if per_call else None)
        assert str(info.value) == (
            "test.v1.Hosted/Relay ran past its deadline of 0.2 s in host method "
            "legacy.v1.Echo/Slow and was stopped when it returned"
        )
        assert info.value.timeout_s == 0.2
        _discarded_and_replaced(guest)


# ABI-level cases, where a guest does what no SDK does: return right after a late host
# call (no epoch check left to stop it), or send the host a request over the limit.
LATE = b"legacy.v1.Echo/Slow"
BIG = b"legacy.v1.Echo/Say"
WAT_BODY = (
    _data(1024, LATE)
    + _data(1100, BIG)
    + f"""
  (func (export "t.v1.T/Late") (param i32 i32) (result i64)
    (drop (call $host_call (i32.const 1024) (i32.const {len(LATE)}) (i32.const 0) (i32.const 0)))
    (i64.const 0))
  (func (export "t.v1.T/BigRequest") (param i32 i32) (result i64)
    (drop (memory.grow (i32.const 2)))  ;; so that the request lies inside memory
    (drop (call $host_call (i32.const 1100) (i32.const {len(BIG)})
                           (i32.const 4096) (i32.const {LIMIT + 1})))
    (i64.const 0))
"""
)


@pytest.fixture
def wat_guest(tmp_path: Path) -> Path:
    path = wat_module(tmp_path, WAT_BODY, imports=IMPORTS)
    schema = (GUESTS / "hostcall-go" / "bridge-schema.binpb").read_bytes()
    path.write_bytes(embed(path.read_bytes(), schema))
    return path


def test_a_guest_that_returns_right_after_a_late_host_call_still_fails(
    wat_guest: Path, cache: Path
) -> None:
    late = pytest.raises(bridge.DeadlineExceeded, match="in host method legacy.v1.Echo/Slow")
    with _load(wat_guest, cache, Echo(), call_timeout_s=0.2) as guest, late:
        guest.call("t.v1.T/Late", b"")


def test_a_host_call_request_over_the_limit_fails_the_call(wat_guest: Path, cache: Path) -> None:
    with _load(wat_guest, cache, Echo(), max_message_bytes=LIMIT) as guest:
        with pytest.raises(bridge.ResourceExhausted) as info:
            guest.call("t.v1.T/BigRequest", b"")
        assert str(info.value) == (
            f"t.v1.T/BigRequest: host call legacy.v1.Echo/Say: request of {LIMIT + 1} "
            f"bytes, over the limit of {LIMIT} bytes (max_message_bytes)"
        )
