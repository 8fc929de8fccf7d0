"""The README's quickstart, run as written: from an empty folder to a Go port answering
beside the legacy function in shadow mode, with `bridge diff` clean, in six commands.

The blocks are taken from README.md's "Quickstart" section in order: the legacy
function, the first commands, the Go body (in place of the UNIMPLEMENTED line of the
guest's main.go), the routed function (whose `...` is the legacy body), the
configuration, and the last commands. Each command runs in a shell in the folder, with
bridge (this checkout's venv) and Go on PATH, and must exit 0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.guest import toolchain
from tests.docs.test_snippets import SHELLS, Snippet, fenced_blocks

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
COMMAND_TIMEOUT_S = 300


def _quickstart() -> list[Snippet]:
    text = README.read_text()
    start = text.index("## Quickstart")
    end = text.index("\n## ", start + 1)
    first, last = text[:start].count("\n") + 1, text[:end].count("\n") + 1
    return [b for b in fenced_blocks(README) if first <= b.line <= last]


def _commands(block: Snippet) -> list[str]:
    return [line for line in block.lines if line.strip() and not line.startswith("#")]


def test_the_quickstart_has_six_commands() -> None:
    shells = [block for block in _quickstart() if block.lang in SHELLS]
    assert sum(len(_commands(block)) for block in shells) == 6


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    go = toolchain.find_go()
    if go is None:
        pytest.skip("needs Go (scripts/bootstrap installs it)")
    legacy, first, body, routed, config, last = _quickstart()
    assert [b.lang for b in (legacy, first, body, routed, config, last)] == [
        "python", "sh", "go", "python", "toml", "sh",
    ]  # fmt: skip
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), str(go.bin_dir), "/usr/bin", "/bin"]
        ),
        "PYTHONPATH": "",
    }

    def run(block: Snippet) -> list[str]:
        outputs = []
        for command in _commands(block):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT_S,
                check=False,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            outputs.append(done.stdout)
        return outputs

    legacy_text = "\n".join(legacy.lines[1:]) + "\n"  # the first line names the file
    (tmp_path / "legacy.py").write_text(legacy_text)
    run(first)

    main_go = tmp_path / "guest" / "main.go"
    unimplemented = re.compile(r"^\treturn nil, guest\.Errorf\(guest\.CodeUnimplemented.*$", re.M)
    source, replaced = unimplemented.subn("\n".join(body.lines), main_go.read_text())
    assert replaced == 1
    main_go.write_text(source)

    routed_text = "\n".join(routed.lines[1:]) + "\n"
    legacy_def = legacy_text[legacy_text.index("def shipping_cents") :]
    header, _, _ = routed_text.partition("def shipping_cents")
    (tmp_path / "legacy.py").write_text(header + legacy_def)
    (tmp_path / "pyproject.toml").write_text("\n".join(config.lines[1:]) + "\n")

    build, diff, call = run(last)
    assert "none" in diff  # the differences column (and the exit status 0 above)
    assert call.strip() == "1380"
    reported = subprocess.run(
        ["bridge", "report", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=COMMAND_TIMEOUT_S, check=True,
    )  # fmt: skip
    rows = {(r["mode"], r["side"]): r for r in json.loads(reported.stdout)["rows"]}
    assert rows[("shadow", "python")]["calls"] == rows[("shadow", "wasm")]["calls"] == 1
    assert rows[("shadow", "wasm")]["mismatches"] == 0
