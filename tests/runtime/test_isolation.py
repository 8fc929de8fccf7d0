"""One caller's failure is never another's: errors stay with their own call, and an
instance whose call failed is never used again (issue 11, item 3).

wasmtime-py hands an exception raised in a Python host function to whichever thread
next sees a trap (a process-global "last exception"); these tests run real guests on
real threads so that a host call failing in one thread and a trap in another overlap.
Every guest method that fails sets a flag in the guest's memory first, and each
module's `Dirty` method reads it: an instance that answers 1 is one whose call failed
and that was nevertheless handed to another call.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.hostcalls import HostContext
from bridge.schema.messages import MessageTypes
from bridge.schema.model import Schema
from tests.conftest import ROOT, _build_or_skip

GUESTS = ROOT / "tests" / "guests"
LEGACY_SCHEMA = GUESTS / "hostcall-go" / "bridge-schema.binpb"
CALLS_PER_THREAD = 150


class Echo:
    """legacy.v1.Echo: Exit ends the host method with SystemExit (a BaseException)."""

    def Say(self, request: object, context: HostContext) -> object:  # noqa: N802 (grpc's names)
        return request

    def Exit(self, request: object, context: HostContext) -> object:  # noqa: N802
        raise SystemExit(3)


@pytest.fixture(scope="module", params=["go", "rust"])
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def modules(
    lang: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[bridge.GuestModule, bridge.GuestModule]]:
    """(the hostcall guest, the faulty guest) of one language, four instances each."""
    out = tmp_path_factory.mktemp(f"isolation-{lang}")
    hosted_wasm = _build_or_skip(GUESTS / f"hostcall-{lang}", out / "hostcall.wasm")
    faulty_wasm = _build_or_skip(GUESTS / f"faulty-{lang}", out / "faulty.wasm")
    config = RuntimeConfig(cache_dir=None, pool_size=4, pool_min_idle=2, pool_wait_s=60)
    with (
        bridge.load(hosted_wasm, config, host={"legacy.v1.Echo": Echo()}) as hosted,
        bridge.load(faulty_wasm, config) as faulty,
    ):
        yield hosted, faulty


@pytest.fixture
def busy_switching() -> Iterator[None]:
    """Threads switch as often as CPython allows, so that failures overlap."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _blob(data: bytes) -> bytes:
    blob = MessageTypes(Schema.from_descriptor_set(LEGACY_SCHEMA.read_bytes()))
    return blob.message_class("legacy.v1.Blob")(data=data).SerializeToString()


def _expect(
    call: Callable[[], bytes], kind: type[BaseException], says: str, wrong: list[str]
) -> None:
    try:
        call()
    except BaseException as exc:  # noqa: BLE001 (SystemExit must be seen, not obeyed)
        if type(exc) is not kind or says not in str(exc):
            wrong.append(f"wanted {kind.__name__} ({says}), got {type(exc).__name__}: {exc}")
    else:
        wrong.append(f"wanted {kind.__name__} ({says}), the call succeeded")


def test_concurrent_failures_stay_with_their_own_call(
    modules: tuple[bridge.GuestModule, bridge.GuestModule], busy_switching: None
) -> None:
    hosted, faulty = modules
    exit_request = b"legacy.v1.Echo/Exit\n" + _blob(b"x")
    said = _blob(b"hi")
    say_request = b"legacy.v1.Echo/Say\n" + said
    plans: dict[str, Callable[[list[str]], None]] = {
        # an ABI violation raised inside a host call
        "abi": lambda wrong: _expect(
            lambda: hosted.call("test.v1.Hosted/BadPointer", b""),
            bridge.AbiViolation,
            "test.v1.Hosted/BadPointer: the guest broke the ABI in a host call: the method "
            "name [0xffffff00, 0xffffff10) lies outside the guest's memory",
            wrong,
        ),
        # a host method that raises SystemExit
        "exit": lambda wrong: _expect(
            lambda: hosted.call("test.v1.Hosted/Relay", exit_request),
            bridge.HostCallFailed,
            "test.v1.Hosted/Relay: host method legacy.v1.Echo/Exit raised SystemExit: 3",
            wrong,
        ),
        # the guest's own trap
        "trap": lambda wrong: _expect(
            lambda: faulty.call("faulty.v1.Faulty/Panic", b"boom"),
            bridge.GuestTrap,
            "faulty.v1.Faulty/Panic trapped",
            wrong,
        ),
    }
    wrong: dict[str, list[str]] = {}
    dirty: list[str] = []

    def worker(name: str, plan: Callable[[list[str]], None]) -> None:
        mine = wrong.setdefault(name, [])
        for _ in range(CALLS_PER_THREAD):
            plan(mine)
            # Calls that succeed, in between: each must run on an instance that never failed.
            for module, method in (
                (hosted, "test.v1.Hosted/Dirty"),
                (faulty, "faulty.v1.Faulty/Dirty"),
            ):
                try:
                    if module.call(method, b"") != b"\x00":
                        dirty.append(f"{name}: {method} ran on an instance whose call failed")
                except BaseException as exc:  # noqa: BLE001
                    mine.append(f"{method} failed: {type(exc).__name__}: {exc}")
            try:
                assert hosted.call("test.v1.Hosted/Relay", say_request) == said
            except BaseException as exc:  # noqa: BLE001
                mine.append(f"Relay to Say failed: {type(exc).__name__}: {exc}")

    names = ["abi", "abi", "abi", "exit", "exit", "trap", "trap", "trap"]
    threads = [
        threading.Thread(target=worker, args=(f"{n}-{i}", plans[n]), daemon=True)
        for i, n in enumerate(names)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
        assert not t.is_alive(), "a worker did not finish"
    failures = [f"{name}: {what}" for name, whats in wrong.items() for what in whats]
    assert not failures, f"{len(failures)} calls got another's error, e.g. {failures[:3]}"
    assert not dirty, f"{len(dirty)} calls ran on a failed instance, e.g. {dirty[:3]}"


def test_an_exception_nobody_foresaw_still_discards_the_instance(
    faulty_rust_wasm: Path,
) -> None:
    """Ctrl-C lands while the guest runs: whatever the caller sees, the instance that
    ran is never used again."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    config = RuntimeConfig(cache_dir=None, pool_size=1, pool_min_idle=0, pool_wait_s=30)
    with bridge.load(faulty_rust_wasm, config) as faulty:
        main = threading.main_thread().ident
        assert main is not None
        timer = threading.Timer(0.3, signal.pthread_kill, args=(main, signal.SIGINT))
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises((KeyboardInterrupt, bridge.DeadlineExceeded)):
                faulty.call("faulty.v1.Faulty/Loop", b"", timeout_s=1.0)
                time.sleep(5)  # a KeyboardInterrupt not raised during the call lands here
        finally:
            timer.cancel()
        assert time.monotonic() - started < 5
        assert faulty.call("faulty.v1.Faulty/Dirty", b"") == b"\x00"
