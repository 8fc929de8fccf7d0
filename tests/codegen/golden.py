"""Golden files: generated code is compared with tests/codegen/golden/<case>/<lang>/.

To accept a change on purpose, regenerate them and read the diff:

    BRIDGE_REFRESH_GOLDEN=1 ./scripts/test tests/codegen
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from bridge.codegen.base import GeneratedFile, write_files

GOLDEN = Path(__file__).resolve().parent / "golden"
REFRESH = os.environ.get("BRIDGE_REFRESH_GOLDEN") == "1"


def assert_golden(files: Sequence[GeneratedFile], case: str, lang: str) -> None:
    """Fail, naming the files, when `files` differ from the golden copy (or refresh it)."""
    directory = GOLDEN / case / lang
    if REFRESH:
        shutil.rmtree(directory, ignore_errors=True)
        write_files(files, directory)
        return
    expected = {
        str(p.relative_to(directory)): p.read_text(encoding="utf-8")
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
    actual = {f.path: f.text for f in files}
    changed = sorted(
        name for name in expected.keys() | actual.keys() if expected.get(name) != actual.get(name)
    )
    assert not changed, (
        f"generated {lang} code for {case!r} differs from tests/codegen/golden in {changed}; "
        "if the change is meant, run: BRIDGE_REFRESH_GOLDEN=1 ./scripts/test tests/codegen"
    )
