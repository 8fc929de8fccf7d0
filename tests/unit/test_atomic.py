"""write_atomic: the umask decides the mode, and a failed write leaves the old file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.atomic import write_atomic


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_mode_follows_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        write_atomic(tmp_path / "new.txt", "text\n")
        (tmp_path / "old.bin").write_bytes(b"old")
        os.chmod(tmp_path / "old.bin", 0o600)
        write_atomic(tmp_path / "old.bin", b"new")
    finally:
        os.umask(previous)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    # a replaced file gets the mode a new one would, as with any editor's atomic save
    assert (tmp_path / "old.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "old.bin").read_bytes() == b"new"


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "kept.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_atomic(target, 12)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]
