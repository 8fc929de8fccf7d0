"""Objects of the user's project that commands name as MODULE:ATTRIBUTE.

`bridge proto` and `bridge diff` take functions so, and import them the way the project
runs them: from the current directory.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

__all__ = ["import_attribute"]


def import_attribute(spec: str, module_name: str, attribute: str) -> Any:
    """`module_name`'s `attribute` (dots reach nested ones: Class.method), the module
    imported from the current directory. LookupError saying what is missing, in one line
    that starts with `spec`."""
    cwd = str(Path.cwd())
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - whatever the module raises on import
        raise LookupError(
            f"{spec}: cannot import {module_name}: {type(exc).__name__}: {exc}; "
            "run from the project's folder"
        ) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise LookupError(f"{spec}: module {module_name} has no {attribute!r}") from None
    return found
