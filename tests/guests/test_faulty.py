"""A real Go guest that panics or prints: typed traps, captured output, calls go on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import bridge


@pytest.fixture
def faulty(faulty_go_wasm: Path) -> Iterator[bridge.GuestModule]:
    with bridge.load(faulty_go_wasm) as module:
        yield module


def test_panic_is_a_trap_with_the_panic_message(faulty: bridge.GuestModule) -> None:
    with pytest.raises(bridge.GuestTrap) as info:
        faulty.call("faulty.v1.Faulty/Panic", b"at checkout")
    trap = info.value
    assert str(trap) == (
        "faulty.v1.Faulty/Panic trapped: wasm `unreachable` instruction executed "
        "(panic: boom: at checkout)"
    )
    assert trap.trap_code == "unreachable"
    assert "main.panicExport" in trap.backtrace  # the name section survives the build
    assert "goroutine 1 [running]" in trap.guest_stderr
    # the trapped instance was replaced: the next call works
    assert faulty.call("faulty.v1.Faulty/Print", b"after") == b"after"


def test_guest_output_goes_to_logging(
    faulty: bridge.GuestModule, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.guest")
    assert faulty.call("faulty.v1.Faulty/Print", b"hello") == b"hello"
    wanted = {
        (logging.INFO, "faulty-go.wasm stdout: out: hello"),
        (logging.WARNING, "faulty-go.wasm stderr: err: hello"),
    }
    # Output travels through a pipe and a thread: wait for it, boundedly.
    deadline = time.monotonic() + 10
    while not wanted <= {(r.levelno, r.getMessage()) for r in caplog.records}:
        assert time.monotonic() < deadline, caplog.records
        time.sleep(0.01)
