"""Builds bridge's native epoch ticker (bridge/runtime/_ticker.c) into the wheel.

It is optional: without a C compiler (or with BRIDGE_NO_NATIVE=1) the wheel is pure
Python and a Python thread ticks instead (bridge/runtime/ticker.py). The library is
loaded with ctypes, not imported, so one build serves every Python 3 of the platform.
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


class NativeTickerHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("BRIDGE_NO_NATIVE"):
            return
        root = Path(self.root)
        # An editable install imports from the checkout: the library goes next to its source.
        out = root / LIBRARY if version == "editable" else Path(tempfile.mkdtemp()) / "_ticker.so"
        problem = _compile(root / SOURCE, out)
        if problem:
            self.app.display_warning(
                f"bridge: no native epoch ticker ({problem}); a Python thread will tick, "
                "and deadlines wait for the GIL"
            )
            return
        build_data["pure_python"] = False
        build_data["tag"] = "py3-none-" + sysconfig.get_platform().replace("-", "_").replace(
            ".", "_"
        )
        if version != "editable":
            build_data["force_include"][str(out)] = LIBRARY


def _compile(source: Path, out: Path) -> str | None:
    """None once `out` is built, else why not."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        return "no C compiler: set CC or install one"
    command = [compiler, "-O2", "-shared", "-fPIC", "-pthread", "-o", str(out), str(source)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{compiler} failed: {exc}"
    if done.returncode != 0:
        return f"{compiler} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return None
