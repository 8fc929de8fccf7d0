"""Builds bridge's native parts into the wheel: the epoch ticker (bridge/runtime/_ticker.c)
and the native call (bridge/runtime/_native.c).

Both are optional: without a C compiler (or with BRIDGE_NO_NATIVE=1) the wheel is pure
Python, a Python thread ticks instead (bridge/runtime/ticker.py) and calls take the
pure-Python fast path (bridge/runtime/_fastcall.py). The ticker is loaded with ctypes, not
imported, so alone it makes a `py3-none-<platform>` wheel. The native call is a CPython
extension on the limited API of 3.10 (it also needs Python's headers): with it the wheel
is `cp310-abi3-<platform>`, one build for every CPython >= 3.10 of the platform. Each is
built or left out on its own; a build that fails only warns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "bridge/runtime/_ticker.c"
LIBRARY = "bridge/runtime/_ticker.so"
NATIVE_SOURCE = "bridge/runtime/_native.c"
NATIVE_LIBRARY = "bridge/runtime/_native.abi3.so"


class NativeHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("BRIDGE_NO_NATIVE"):
            return
        root = Path(self.root)
        built = Path(tempfile.mkdtemp())
        platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
        built_any = built_native = False
        for source, library, extra, what in (
            (SOURCE, LIBRARY, [], "no native epoch ticker ({}); a Python thread will tick, "
             "and deadlines wait for the GIL"),
            (NATIVE_SOURCE, NATIVE_LIBRARY, ["-I", sysconfig.get_paths()["include"]],
             "no native call ({}); calls take the pure-Python fast path"),
        ):  # fmt: skip
            # An editable install imports from the checkout: the library goes next to its
            # source.
            out = root / library if version == "editable" else built / Path(library).name
            problem = _compile(root / source, out, extra)
            if problem:
                self.app.display_warning(f"bridge: {what.format(problem)}")
                continue
            if version != "editable":
                build_data["force_include"][str(out)] = library
            built_any = True
            built_native = built_native or library == NATIVE_LIBRARY
        if built_any:
            build_data["pure_python"] = False
            build_data["tag"] = ("cp310-abi3-" if built_native else "py3-none-") + platform


def _compile(source: Path, out: Path, extra: list[str]) -> str | None:
    """None once `out` is built, else why not."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return "no C compiler: set CC or install one"
    command = [compiler, "-O2", "-shared", "-fPIC", "-pthread", *extra, "-o", str(out), str(source)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{compiler} failed: {exc}"
    if done.returncode != 0:
        return f"{compiler} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return None
