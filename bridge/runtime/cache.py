"""The on-disk cache of compiled modules: compile once, load in milliseconds afterwards.

An entry is keyed by the module's sha256 under a directory named for the engine (the
wasmtime version and every setting that changes compiled code), so a module compiled
by another wasmtime or with other settings is never even looked at. Each entry has a
`.check` file with the artifact's size and crc32, verified before wasmtime sees the
artifact: deserializing trusts its bytes, so a corrupt or truncated file must be caught
here and recompiled, never loaded.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from pathlib import Path

import wasmtime

from ..atomic import write_atomic

__all__ = ["ModuleCache"]

log = logging.getLogger("bridge.runtime")


class ModuleCache:
    """A directory of compiled modules for one engine configuration."""

    def __init__(self, directory: Path, engine_key: str) -> None:
        self.directory = directory / engine_key

    def load(self, engine: wasmtime.Engine, wasm: bytes, name: str) -> wasmtime.Module:
        """The compiled module for `wasm`: from the cache when it is there and intact."""
        entry = self.directory / hashlib.sha256(wasm).hexdigest()
        artifact, check = entry.with_suffix(".cwasm"), entry.with_suffix(".check")
        module = self._read(engine, artifact, check, name)
        if module is not None:
            log.debug("loaded %s from the compile cache (%s)", name, artifact)
            return module
        module = wasmtime.Module(engine, wasm)
        self._write(module, artifact, check, name)
        log.debug("compiled %s and cached it (%s)", name, artifact)
        return module

    def _read(
        self, engine: wasmtime.Engine, artifact: Path, check: Path, name: str
    ) -> wasmtime.Module | None:
        try:
            expected = check.read_text().split()
            data = artifact.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read the cached %s (%s); compiling it again", name, exc)
            return None
        actual = [str(len(data)), f"{zlib.crc32(data):08x}"]
        if expected != actual:
            log.warning("the cached %s at %s is corrupt; compiling it again", name, artifact)
            return None
        try:
            return wasmtime.Module.deserialize_file(engine, str(artifact))
        except wasmtime.WasmtimeError as exc:
            # Compiled by something else after all (another wasmtime build, another CPU).
            log.warning(
                "the cached %s does not fit this engine (%s); compiling it again", name, exc
            )
            return None

    def _write(self, module: wasmtime.Module, artifact: Path, check: Path, name: str) -> None:
        data = bytes(module.serialize())
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # The artifact lands first and its check second, both by rename: a reader
            # sees either no entry or a check that matches the artifact it describes.
            write_atomic(artifact, data)
            write_atomic(check, f"{len(data)} {zlib.crc32(data):08x}\n".encode())
        except OSError as exc:
            log.warning("cannot cache the compiled %s in %s: %s", name, self.directory, exc)
