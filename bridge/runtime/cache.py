"""The on-disk cache of compiled modules: compile once, load in milliseconds afterwards.

An entry is keyed by the module's sha256 under a directory named for the engine (the
wasmtime version and every setting that changes compiled code), so a module compiled
by another wasmtime or with other settings is never even looked at.

Deserializing an artifact runs its native code unchecked, so an entry is trusted only
this far:

- The folder is the user's own. The cache folder and its engine folder must be owned
  by this user and writable by nobody else; missing parents are made 0700, and a
  symbolic link on the way is followed only when this user (or root) owns it. A folder
  that fails is not used at all: one warning per folder and process, then every module
  is compiled.
- The entry is bound to its module. It starts with a sha256 over the engine key, the
  wasm's sha256 and the artifact, so a damaged or truncated artifact, or the intact
  artifact of another module or engine, is refused and compiled again.
- The bytes checked are the bytes run. The entry is read once into memory, checked,
  and those bytes deserialized: the file is never mapped, so truncating or replacing
  it later (even while the module runs) cannot reach the process.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import threading
from pathlib import Path

import wasmtime

from ..atomic import write_atomic

__all__ = ["ModuleCache"]

log = logging.getLogger("bridge.runtime")

# An entry: MAGIC, the 32-byte digest, then wasmtime's artifact (an ELF file).
_MAGIC = b"bridge-cwasm-v2\n"
_HEADER = len(_MAGIC) + hashlib.sha256().digest_size
_ELF = b"\x7fELF"  # how an entry of the earlier layout (the bare artifact) starts

_refused: set[str] = set()  # folders already warned about in this process
_refused_lock = threading.Lock()


class ModuleCache:
    """A directory of compiled modules for one engine configuration."""

    def __init__(self, directory: Path, engine_key: str) -> None:
        self.root = Path(os.path.abspath(directory))
        self.directory = self.root / engine_key

    def load(self, engine: wasmtime.Engine, wasm: bytes, name: str) -> wasmtime.Module:
        """The compiled module for `wasm`: from the cache when it is there and intact."""
        if not self._usable():
            return wasmtime.Module(engine, wasm)
        wasm_digest = hashlib.sha256(wasm).digest()
        entry = self.directory / f"{wasm_digest.hex()}.cwasm"
        module = self._read(engine, entry, wasm_digest, name)
        if module is not None:
            log.debug("loaded %s from the compile cache (%s)", name, entry)
            return module
        module = wasmtime.Module(engine, wasm)
        self._write(module, entry, wasm_digest, name)
        log.debug("compiled %s and cached it (%s)", name, entry)
        return module

    def _usable(self) -> bool:
        """Whether the folders are (now) this user's alone; warns once when they are not."""
        problem = _private_folder(self.root, self.directory)
        if problem is None:
            return True
        with _refused_lock:
            first = str(self.root) not in _refused
            _refused.add(str(self.root))
        if first:
            log.warning(
                "not using the compile cache %s: %s; modules are compiled on every load",
                self.root,
                problem,
            )
        return False

    def _digest(self, wasm_digest: bytes, artifact: bytes) -> bytes:
        digest = hashlib.sha256(_MAGIC)
        digest.update(self.directory.name.encode())
        digest.update(b"\0")
        digest.update(wasm_digest)
        digest.update(artifact)
        return digest.digest()

    def _read(
        self, engine: wasmtime.Engine, entry: Path, wasm_digest: bytes, name: str
    ) -> wasmtime.Module | None:
        try:
            # O_NOFOLLOW: an entry is a file of ours, never a link to somewhere else.
            fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read the cached %s (%s); compiling it again", name, exc)
            return None
        try:
            with os.fdopen(fd, "rb", buffering=0) as file:
                info = os.fstat(file.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                    log.warning(
                        "the cached %s at %s is not a file of this user's; compiling it again",
                        name,
                        entry,
                    )
                    return None
                header = file.read(_HEADER)
                artifact = file.read()  # the rest, whole: the bytes checked are the bytes run
        except OSError as exc:
            log.warning("cannot read the cached %s (%s); compiling it again", name, exc)
            return None
        if not header.startswith(_MAGIC):
            if header.startswith(_ELF):
                log.debug("the cached %s predates checked entries; compiling it again", name)
            else:
                log.warning("the cached %s at %s is corrupt; compiling it again", name, entry)
            return None
        if header[len(_MAGIC) :] != self._digest(wasm_digest, artifact):
            log.warning(
                "the cached %s at %s is damaged or belongs to another module; compiling it again",
                name,
                entry,
            )
            return None
        try:
            return wasmtime.Module.deserialize(engine, artifact)
        except wasmtime.WasmtimeError as exc:
            # Written by this engine key yet refused (another wasmtime build, another CPU).
            log.warning(
                "the cached %s does not fit this engine (%s); compiling it again", name, exc
            )
            return None

    def _write(self, module: wasmtime.Module, entry: Path, wasm_digest: bytes, name: str) -> None:
        artifact = bytes(module.serialize())
        try:
            # One file, renamed into place: a reader sees a whole entry or none.
            write_atomic(entry, _MAGIC + self._digest(wasm_digest, artifact) + artifact)
        except OSError as exc:
            log.warning("cannot cache the compiled %s in %s: %s", name, self.directory, exc)
            return
        with contextlib.suppress(OSError):  # the check file of the earlier layout
            entry.with_suffix(".check").unlink(missing_ok=True)


def _private_folder(root: Path, directory: Path) -> str | None:
    """Make `directory` (under `root`) and its missing parents, 0700; why `root` or
    `directory` cannot be trusted, or None when both are this user's alone."""
    uid = os.geteuid()
    current = Path(directory.anchor)
    for part in directory.parts[1:]:
        current /= part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            try:
                os.mkdir(current, 0o700)
            except FileExistsError:
                pass  # made by another process meanwhile: checked below like any other
            except OSError as exc:
                return f"cannot create {current}: {exc.strerror}"
            info = os.lstat(current)
        except OSError as exc:
            return f"cannot look at {current}: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            # Someone else's link could send the cache (and what bridge creates under
            # it) anywhere; a link of the user's own, or root's, is a choice of theirs.
            if info.st_uid not in (uid, 0):
                return f"{current} is a symbolic link owned by uid {info.st_uid}"
            try:
                info = os.stat(current)
            except OSError as exc:
                return f"cannot follow {current}: {exc.strerror}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{current} is not a folder"
        if current in (root, directory):
            if info.st_uid != uid:
                return f"{current} is owned by uid {info.st_uid}, not by this user (uid {uid})"
            if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return (
                    f"{current} is writable by other users (mode {stat.S_IMODE(info.st_mode):04o})"
                )
    return None
