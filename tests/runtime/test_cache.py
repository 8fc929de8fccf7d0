"""The compile cache: hits after the first load, and never trusts a damaged entry."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig
from bridge.runtime.cache import ModuleCache

ECHO = "faulty.v1.Faulty/Echo"


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.cwasm"))


def _load_and_call(wasm: Path, cache: Path) -> None:
    with bridge.load(wasm, RuntimeConfig(cache_dir=cache)) as guest:
        assert guest.call(ECHO, b"ok") == b"ok"


def _messages(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


@pytest.fixture
def cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Path:
    caplog.set_level(logging.DEBUG, logger="bridge.runtime")
    return tmp_path / "cache"


def test_second_load_comes_from_the_cache(
    faulty_rust_wasm: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _load_and_call(faulty_rust_wasm, cache)
    assert "compiled faulty-rust.wasm and cached it" in _messages(caplog)
    [entry] = _entries(cache)
    assert entry.parent.name.startswith("wasmtime-")  # keyed by engine and version
    assert oct(entry.parent.stat().st_mode & 0o777) == "0o700"
    caplog.clear()
    _load_and_call(faulty_rust_wasm, cache)
    assert "loaded faulty-rust.wasm from the compile cache" in _messages(caplog)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:1000]), id="truncated"),
        pytest.param(
            lambda p: p.write_bytes(_flip(p.read_bytes(), len(p.read_bytes()) // 2)),
            id="flipped-byte",
        ),
        pytest.param(lambda p: p.write_bytes(b"\0" * 64), id="zeroed"),
        pytest.param(lambda p: p.write_bytes(_flip(p.read_bytes(), 20)), id="bad-digest"),
        pytest.param(lambda p: p.write_bytes(_flip(p.read_bytes(), 0)), id="bad-magic"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:48]), id="header-only"),
        pytest.param(lambda p: p.write_bytes(b""), id="empty"),
    ],
)
def test_damaged_entry_is_detected_and_recompiled(
    faulty_rust_wasm: Path, cache: Path, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    _load_and_call(faulty_rust_wasm, cache)
    [entry] = _entries(cache)
    damage(entry)  # type: ignore[operator]
    caplog.clear()
    _load_and_call(faulty_rust_wasm, cache)
    messages = _messages(caplog)
    assert "compiled faulty-rust.wasm and cached it" in messages
    # the entry was rewritten whole: the next load hits again
    caplog.clear()
    _load_and_call(faulty_rust_wasm, cache)
    assert "loaded faulty-rust.wasm from the compile cache" in _messages(caplog)


def test_an_entry_of_another_engine_is_not_trusted(
    faulty_rust_wasm: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An intact artifact compiled for a fuel-metering engine, under the no-fuel key: its
    digest names the other engine; and were it signed for this one, wasmtime refuses it."""
    _load_and_call(faulty_rust_wasm, cache)
    [entry] = _entries(cache)
    with bridge.load(faulty_rust_wasm, RuntimeConfig(cache_dir=cache, fuel=10**9)) as guest:
        guest.call(ECHO, b"x")
    fuel_entry = next(p for p in _entries(cache) if "-fuel" in p.parent.name)
    entry.write_bytes(fuel_entry.read_bytes())
    caplog.clear()
    _load_and_call(faulty_rust_wasm, cache)
    assert "is damaged or belongs to another module" in _messages(caplog)
    # the same artifact with a digest made for this engine: wasmtime's own check refuses it
    artifact = fuel_entry.read_bytes()[48:]
    wasm_digest = hashlib.sha256(faulty_rust_wasm.read_bytes()).digest()
    signed = ModuleCache(cache, entry.parent.name)._digest(wasm_digest, artifact)
    entry.write_bytes(b"bridge-cwasm-v2\n" + signed + artifact)
    caplog.clear()
    _load_and_call(faulty_rust_wasm, cache)
    assert "does not fit this engine" in _messages(caplog)


def test_cache_can_be_turned_off(
    faulty_rust_wasm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with bridge.load(faulty_rust_wasm) as guest:
        assert guest.config.cache_dir is None
        assert guest.call(ECHO, b"x") == b"x"
    assert not (tmp_path / "xdg").exists()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
