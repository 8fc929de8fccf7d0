"""Writing a file atomically, with the permissions any other program would give it.

`tempfile.mkstemp` creates its file with mode 0600 whatever the umask, and a rename
keeps that mode: generated sources, manifests and reports would be unreadable to the
rest of a team. The staging file here is created with 0666 and the process's umask
applies, as it does for `open(path, "w")`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` so that a reader sees the old file or the new one, never half.

    Text is written as UTF-8 with `\\n` line ends on every platform.
    """
    staged = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staged)
        raise
