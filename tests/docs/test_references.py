"""The repository owns every document it cites: no file refers to one outside it.

Every tracked text file is searched for names of documents that live outside the
repository (the design and style pages of a sibling directory, and paths into that
directory), and every relative Markdown link in a *.md file must resolve to a file or
directory inside the repository that exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]

# This file names the forbidden references in order to find them, so it is not searched.
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

OUTSIDE_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bDESIGN\.md\b"), "cites DESIGN.md, a document outside the repository"),
    (re.compile(r"\bSTYLE\.md\b"), "cites STYLE.md, a document outside the repository"),
    (re.compile(r"(?:\.\./)+shared\b"), "refers to the sibling directory ../shared"),
    (re.compile(r"/work/shared\b"), "refers to /work/shared, outside the repository"),
    # a bare "shared/NAME.md" path (not "-buildmode=c-shared" or "a shared channel")
    (
        re.compile(r"(?<![\w./-])shared/[\w./-]*\.md\b"),
        "refers to a document in the sibling directory shared/",
    ),
)

# [text](target) and ![alt](target), with an optional title; the text may span lines.
_INLINE_LINK = re.compile(
    r"\]\(\s*(?P<target><[^>\n]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
# [label]: target
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:[ \t]*(?P<target><[^>\n]*>|\S+)", re.M)
_FENCED_CODE = re.compile(
    r"^ {0,3}(?P<fence>`{3,}|~{3,}).*?(?:^ {0,3}(?P=fence)[`~]*[ \t]*$|\Z)", re.M | re.S
)
_CODE_SPAN = re.compile(r"(?P<ticks>`+)[^`].*?(?P=ticks)", re.S)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Finding:
    path: str  # relative to the repository root, with "/"
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.problem}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _blank(match: re.Match[str]) -> str:
    """The matched text with everything but its line breaks replaced by spaces."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _without_code(markdown: str) -> str:
    """Markdown with code blocks and code spans blanked out, offsets and lines kept."""
    return _CODE_SPAN.sub(_blank, _FENCED_CODE.sub(_blank, markdown))


def _link_problem(root: Path, document: Path, target: str) -> str | None:
    """What is wrong with a link from `document` to `target`, or None if nothing is."""
    target = target.removeprefix("<").removesuffix(">").strip()
    if not target or target.startswith(("#", "//")):
        return None
    if _SCHEME.match(target):  # https:, mailto:, ...
        return None
    path = unquote(target.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return None
    if path.startswith("/"):
        return f"links to the absolute path {target!r}; link relative to this file"
    resolved = Path(os.path.normpath(document.parent / path))
    if not resolved.is_relative_to(root):
        return f"links to {target!r}, outside the repository"
    if not resolved.exists():
        return f"links to {target!r}, which does not exist"
    return None


def find_outside_references(root: Path, relative: str, text: str) -> list[Finding]:
    """The references in `text` (the file `relative`, under `root`) that leave the
    repository: names of outside documents in any file, and in *.md files relative
    links that resolve outside `root` or to nothing."""
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, problem in OUTSIDE_NAMES:
            if pattern.search(line):
                findings.append(Finding(relative, number, problem))
    if relative.endswith(".md"):
        root = Path(os.path.normpath(root))
        document = root / relative
        prose = _without_code(text)
        links = [*_INLINE_LINK.finditer(prose), *_REFERENCE_DEFINITION.finditer(prose)]
        for match in sorted(links, key=lambda m: m.start("target")):
            wrong = _link_problem(root, document, match.group("target"))
            if wrong is not None:
                findings.append(Finding(relative, _line_of(prose, match.start("target")), wrong))
    return sorted(findings, key=lambda f: f.line)


def _read_text(path: Path) -> str | None:
    """The file's text, or None for a binary file or one that is gone."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None  # tracked but deleted in the working tree, or a submodule
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def tracked_files(root: Path) -> list[str]:
    """`git ls-files` of the repository at `root`; skips the test without git."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: cannot list the repository's files")
    if not (root / ".git").exists():
        pytest.skip(f"{root} is not a git checkout (no .git): cannot list its files")
    done = subprocess.run(
        [git, "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"git ls-files failed: {done.stderr.decode(errors='replace').strip()}")
    return [name for name in done.stdout.decode("utf-8").split("\0") if name]


def scan_repository(root: Path, skip: frozenset[str] = frozenset()) -> list[Finding]:
    findings: list[Finding] = []
    for relative in tracked_files(root):
        if relative in skip:
            continue
        text = _read_text(root / relative)
        if text is not None:
            findings.extend(find_outside_references(root, relative, text))
    return findings


def test_no_file_refers_to_a_document_outside_the_repository() -> None:
    findings = scan_repository(ROOT, skip=frozenset({THIS_FILE}))
    assert not findings, "references to documents outside the repository:\n" + "\n".join(
        str(finding) for finding in findings
    )


# --- The checker itself --------------------------------------------------------------


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "abi.md").write_text("# ABI\n")
    (root / "examples" / "go").mkdir(parents=True)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "outside.md").write_text("# Not ours\n")
    return root


def _problems(root: Path, relative: str, text: str) -> list[tuple[int, str]]:
    return [(f.line, f.problem) for f in find_outside_references(root, relative, text)]


def test_a_link_out_of_the_repository_fails(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    text = "# Perf\n\nSee [the design](../../shared/outside.md#budgets).\n"
    findings = find_outside_references(root, "docs/perf.md", text)
    assert [str(f) for f in findings] == [
        "docs/perf.md:3: refers to the sibling directory ../shared",
        "docs/perf.md:3: links to '../../shared/outside.md#budgets', outside the repository",
    ]


def test_a_link_outside_even_without_naming_shared_fails(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (tmp_path / "notes.md").write_text("x\n")
    assert _problems(root, "docs/perf.md", "[n](../../notes.md)\n") == [
        (1, "links to '../../notes.md', outside the repository")
    ]


def test_a_link_to_a_missing_file_fails(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    text = "intro\n[ABI](abi.md) and\n[gone](gone.md#top)\n"
    assert _problems(root, "docs/perf.md", text) == [
        (3, "links to 'gone.md#top', which does not exist")
    ]


def test_an_absolute_link_fails(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "README.md", "[abi](/docs/abi.md)\n") == [
        (1, "links to the absolute path '/docs/abi.md'; link relative to this file")
    ]


def test_good_links_pass(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    text = (
        "[abi](docs/abi.md) [section](docs/abi.md#exports) [dir](examples/go)\n"
        '[a multi-line\ntext](<docs/abi.md> "title") [here](#budgets)\n'
        "[web](https://example.org/x.md) [mail](mailto:a@example.org) ![img](docs/abi.md)\n"
        "[ref]: docs/abi.md\n"
    )
    assert _problems(root, "README.md", text) == []


def test_a_reference_definition_is_checked(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "README.md", "x [y][ref]\n\n[ref]: docs/nope.md\n") == [
        (3, "links to 'docs/nope.md', which does not exist")
    ]


def test_the_line_is_the_targets_when_link_text_spans_lines(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "README.md", "one\n[two\nthree](nope.md)\n") == [
        (3, "links to 'nope.md', which does not exist")
    ]


def test_links_in_code_are_not_links(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    text = "```text\n[x](nope.md)\n```\nand `[y](nope.md)` inline\n[z](nope.md)\n"
    assert _problems(root, "README.md", text) == [(5, "links to 'nope.md', which does not exist")]


def test_links_are_checked_only_in_markdown(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "bridge/x.py", "# [x](nope.md)\n") == []


@pytest.mark.parametrize(
    "line",
    [
        "# Budgets (DESIGN.md)",
        "see STYLE.md for the layout",
        "cat ../shared/notes.txt",
        "# Budgets (/work/shared/budgets.txt)",
        "Where the design (shared/plan.md) was silent",
    ],
)
def test_names_of_outside_documents_fail_in_any_file(tmp_path: Path, line: str) -> None:
    findings = find_outside_references(tmp_path, "bridge/bench.py", f"x = 1\n{line}\n")
    assert findings and all(f.line == 2 for f in findings), findings


@pytest.mark.parametrize(
    "line",
    [
        "go build -buildmode=c-shared -o x.wasm",
        "typed stubs over a shared channel",
        "_shared: dict[str, int] = {}",
        "docs/design.md and docs/performance.md",
    ],
)
def test_ordinary_words_pass(tmp_path: Path, line: str) -> None:
    assert find_outside_references(tmp_path, "README.md", f"{line}\n") == []


def test_a_tracked_file_with_a_bad_reference_fails_the_scan(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    root = _repo(tmp_path)
    (root / "bridge").mkdir()
    (root / "bridge" / "bench.py").write_text("x = 1\n# budgets: see DESIGN.md\n")
    (root / "docs" / "perf.md").write_text("# Perf\n\n[abi](abi.md) [out](../../x.md)\n")
    (root / "untracked.md").write_text("[out](../x.md)\n")
    (root / "blob.bin").write_bytes(b"\0DESIGN.md")
    subprocess.run([git, "init", "-q", str(root)], check=True, capture_output=True)
    subprocess.run(
        [git, "-C", str(root), "add", "bridge/bench.py", "docs", "blob.bin"],
        check=True,
        capture_output=True,
    )
    assert [str(f) for f in scan_repository(root)] == [
        "bridge/bench.py:2: cites DESIGN.md, a document outside the repository",
        "docs/perf.md:3: links to '../../x.md', outside the repository",
    ]
    assert scan_repository(root, skip=frozenset({"bridge/bench.py", "docs/perf.md"})) == []
