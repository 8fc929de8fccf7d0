"""What the compile cache refuses to trust: an entry changed under a running module, the
artifact of another module, and a folder that someone else can write."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge.config import RuntimeConfig

ECHO = "faulty.v1.Faulty/Echo"
PRINT = "faulty.v1.Faulty/Print"  # faulty-go has it, faulty-rust does not
OTHER_UID = 65534  # nobody

# Load from the cache, truncate the entry in place (same inode) while the module runs,
# call it, then load it again. Mapping the entry (deserialize_file) made the first call
# die with SIGBUS; the second load must notice the damage and compile.
IN_USE = """
import logging, os, sys
from pathlib import Path
import bridge
from bridge.config import RuntimeConfig

logging.basicConfig(level=logging.DEBUG, format="%(message)s", stream=sys.stdout)
logging.getLogger("bridge.guest").setLevel(logging.ERROR)
wasm, cache = Path(sys.argv[1]), Path(sys.argv[2])
config = RuntimeConfig(cache_dir=cache, pool_size=1, pool_min_idle=0)
with bridge.load(wasm, config) as guest:
    [entry] = cache.rglob("*.cwasm")
    os.truncate(entry, 4096)
    for n in range(200):
        assert guest.call("faulty.v1.Faulty/Echo", b"x" * n) == b"x" * n
    try:
        guest.call("faulty.v1.Faulty/Panic", b"boom")
    except bridge.GuestTrap:
        pass
print("CALLS-OK")
with bridge.load(wasm, config) as guest:
    assert guest.call("faulty.v1.Faulty/Echo", b"again") == b"again"
print("RELOAD-OK")
"""


def _messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def _load(wasm: Path, cache: Path) -> bridge.GuestModule:
    return bridge.load(wasm, RuntimeConfig(cache_dir=cache))


@pytest.fixture
def cache(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Path:
    caplog.set_level(logging.DEBUG, logger="bridge.runtime")
    return tmp_path / "cache"


def test_an_entry_truncated_while_in_use(faulty_wasm: Path, cache: Path) -> None:
    with _load(faulty_wasm, cache) as guest:  # writes the entry
        guest.call(ECHO, b"x")
    done = subprocess.run(
        [sys.executable, "-c", IN_USE, str(faulty_wasm), str(cache)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    out = done.stdout
    assert f"loaded {faulty_wasm.name} from the compile cache" in out
    assert "CALLS-OK" in out and "RELOAD-OK" in out
    assert f"the cached {faulty_wasm.name}" in out and "compiling it again" in out
    assert out.index("CALLS-OK") < out.index(f"compiled {faulty_wasm.name} and cached it")


def test_another_modules_entry_is_refused(
    faulty_rust_wasm: Path, faulty_go_wasm: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A's whole entry, intact, under B's name: refused, B compiled, B's behaviour."""
    for wasm in (faulty_rust_wasm, faulty_go_wasm):
        with _load(wasm, cache) as guest:
            guest.call(ECHO, b"x")
    rust_files = {p.name: p for p in cache.rglob("*") if p.is_file()}
    [go_entry] = [p for p in cache.rglob("*.cwasm") if p.name.startswith(_sha(faulty_go_wasm))]
    rust_stem = _sha(faulty_rust_wasm)
    for name, path in rust_files.items():
        if name.startswith(rust_stem):  # every file of A's entry, whatever the layout
            shutil.copyfile(path, go_entry.parent / name.replace(rust_stem, go_entry.stem))
    caplog.clear()
    with _load(faulty_go_wasm, cache) as guest:
        assert PRINT in guest.methods
        assert guest.call(PRINT, b"p") == b"p"
    messages = _messages(caplog)
    assert any("belongs to another module" in m for m in messages), messages
    assert f"compiled {faulty_go_wasm.name} and cached it" in "\n".join(messages)
    caplog.clear()
    with _load(faulty_go_wasm, cache) as guest:  # rewritten: a hit again
        assert PRINT in guest.methods
    assert f"loaded {faulty_go_wasm.name} from the compile cache" in "\n".join(_messages(caplog))


def _sha(wasm: Path) -> str:
    return hashlib.sha256(wasm.read_bytes()).hexdigest()


def _as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("giving a folder to another user needs root")


@pytest.mark.parametrize("where", ["cache", "engine"])
@pytest.mark.parametrize("how", ["mode-0777", "mode-0770", "mode-0702", "other-owner"])
def test_a_folder_others_can_write_is_not_used(
    faulty_rust_wasm: Path, cache: Path, caplog: pytest.LogCaptureFixture, where: str, how: str
) -> None:
    with _load(faulty_rust_wasm, cache) as guest:  # a good entry exists
        guest.call(ECHO, b"x")
    [entry] = cache.rglob("*.cwasm")
    folder = cache if where == "cache" else entry.parent
    if how == "other-owner":
        _as_root()
        os.chown(folder, OTHER_UID, OTHER_UID)
    else:
        os.chmod(folder, int(how.removeprefix("mode-"), 8))
    caplog.clear()
    for _ in range(3):
        with _load(faulty_rust_wasm, cache) as guest:
            assert guest.call(ECHO, b"still works") == b"still works"
    warnings = _messages(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings
    [warning] = warnings
    assert warning.startswith(f"not using the compile cache {cache}: {folder} is ")
    assert "\n" not in warning
    everything = "\n".join(_messages(caplog))
    assert "from the compile cache" not in everything  # the old entry was not read...
    assert "and cached it" not in everything  # ...nor a new one written


def test_missing_parents_are_made_owner_only(faulty_rust_wasm: Path, tmp_path: Path) -> None:
    cache = tmp_path / "a" / "b" / "cache"
    previous = os.umask(0o022)
    try:
        with _load(faulty_rust_wasm, cache) as guest:
            guest.call(ECHO, b"x")
    finally:
        os.umask(previous)
    [entry] = cache.rglob("*.cwasm")
    for folder in (tmp_path / "a", tmp_path / "a" / "b", cache, entry.parent):
        assert oct(folder.stat().st_mode & 0o777) == "0o700", folder


def test_a_link_planted_by_another_user_is_not_followed(
    faulty_rust_wasm: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _as_root()
    caplog.set_level(logging.DEBUG, logger="bridge.runtime")
    target = tmp_path / "theirs"
    target.mkdir()
    link = tmp_path / "shared"
    link.symlink_to(target)
    os.lchown(link, OTHER_UID, OTHER_UID)
    with _load(faulty_rust_wasm, link / "cache") as guest:
        assert guest.call(ECHO, b"x") == b"x"
    assert list(target.iterdir()) == []  # nothing made where the link points
    [warning] = _messages(caplog, logging.WARNING)
    assert f"{link} is a symbolic link owned by uid {OTHER_UID}" in warning
    # the user's own link is their choice, and is followed
    mine = tmp_path / "mine"
    mine.symlink_to(target)
    with _load(faulty_rust_wasm, mine / "cache") as guest:
        guest.call(ECHO, b"x")
    assert list((target / "cache").rglob("*.cwasm"))


@pytest.mark.parametrize("how", ["other-owner", "symlink"])
def test_an_entry_that_is_not_the_users_file_is_replaced(
    faulty_rust_wasm: Path, cache: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    with _load(faulty_rust_wasm, cache) as guest:
        guest.call(ECHO, b"x")
    [entry] = cache.rglob("*.cwasm")
    if how == "other-owner":
        _as_root()
        os.chown(entry, OTHER_UID, OTHER_UID)
    else:  # a link to an intact entry elsewhere: still not followed
        elsewhere = cache.parent / "elsewhere.cwasm"
        entry.rename(elsewhere)
        entry.symlink_to(elsewhere)
    caplog.clear()
    with _load(faulty_rust_wasm, cache) as guest:
        assert guest.call(ECHO, b"y") == b"y"
    [warning] = _messages(caplog, logging.WARNING)
    assert warning.endswith("compiling it again")
    info = os.lstat(entry)  # replaced by a file of the user's own
    assert info.st_uid == os.geteuid() and not os.path.islink(entry)
