"""Progress for work that may be quick or slow: silent when quick, shown when slow."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest

from bridge import _output as out


class Shown:
    """The progress messages shown, recorded instead of printed."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.appeared = threading.Event()

    @contextlib.contextmanager
    def progress(self, message: str) -> Iterator[None]:
        self.messages.append(message)
        self.appeared.set()
        yield


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Shown:
    recorder = Shown()
    monkeypatch.setattr(out, "progress", recorder.progress)
    return recorder


def test_quick_work_shows_nothing(shown: Shown) -> None:
    with out.progress_if_slow("compiling x.wasm ...", after_s=30.0):
        pass
    assert shown.messages == []


def test_slow_work_shows_its_progress(shown: Shown) -> None:
    with out.progress_if_slow("compiling x.wasm ...", after_s=0.0):
        assert shown.appeared.wait(10.0)  # slow work: still running when it appears
    assert shown.messages == ["compiling x.wasm ..."]
