"""Every TOML and shell snippet of README.md and docs/*.md is checked, and none is run.

TOML must parse; a bridge configuration (`[tool.bridge...]` tables, or a block whose first
line is a comment naming bridge.toml) must also load through bridge's own reader. A
shell block (sh, bash, shell, console) must pass `bash -n`, and each `bridge ...` command
in it must parse against the real click command tree: the subcommand exists, every option
exists and gets its values, the arguments fit, the required options are given. `text`
blocks are output and are not checked. Each snippet is one test, named file:line.
"""

from __future__ import annotations

import enum
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from bridge.cli import cli
from bridge.config import load_config
from bridge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SHELLS = frozenset({"sh", "bash", "shell", "console"})
# The tables of a bridge.toml: a block of only these is a bridge configuration.
BRIDGE_TABLES = frozenset({"runtime", "sidecar", "services", "defaults", "routes"})


@dataclass(frozen=True)
class Snippet:
    """One fenced code block."""

    path: Path
    line: int  # the opening fence's, from 1
    lang: str  # the info string's first word, lower-cased ("" if none)
    lines: tuple[str, ...]  # the code, without the fence's indentation
    closed: bool = True

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    def at(self, index: int) -> str:
        """file:line of the block's line `index` (from 0)."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line + 1 + index}"

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


_OPENING = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


def fenced_blocks(path: Path) -> list[Snippet]:
    """The fenced code blocks of a Markdown file; fences at any indentation count, so
    that a block in a list item is checked too."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        opening = _OPENING.match(lines[index])
        index += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        start, body = index, []
        while index < len(lines) and not closing.match(lines[index]):
            line = lines[index]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            index += 1
        words = opening["info"].split()
        lang = words[0].lower() if words else ""
        blocks.append(Snippet(path, start, lang, tuple(body), closed=index < len(lines)))
        index += 1  # past the closing fence
    return blocks


SNIPPETS = [block for path in DOCUMENTS for block in fenced_blocks(path)]
TOML_SNIPPETS = [s for s in SNIPPETS if s.lang == "toml"]
SHELL_SNIPPETS = [s for s in SNIPPETS if s.lang in SHELLS]


def _ids(snippets: Sequence[Snippet]) -> list[str]:
    return [snippet.where for snippet in snippets]


# --- TOML ------------------------------------------------------------------------------


def toml_problem(snippet: Snippet, folder: Path) -> str | None:
    """What is wrong with a TOML snippet (loaded from `folder` if it is bridge's), or None."""
    try:
        data = tomllib.loads(snippet.text)
    except tomllib.TOMLDecodeError as exc:
        return f"not valid TOML: {exc}"
    tool = data.get("tool")
    if isinstance(tool, Mapping) and "bridge" in tool:
        name, table = "pyproject.toml", tool["bridge"]
    elif snippet.lines and re.match(r"\s*#.*\bbridge\.toml\b", snippet.lines[0]):
        name, table = "bridge.toml", data
    elif data and set(data) <= BRIDGE_TABLES:
        # unchecked otherwise: the reader never sees a block it cannot tell is bridge's
        return "a bridge.toml that does not say so: make its first line `# bridge.toml`"
    else:
        return None  # Cargo.toml, [project], ...: parsing is all
    if isinstance(table, Mapping):
        _placeholder_modules(folder, table)
    path = folder / name
    path.write_text(snippet.text, encoding="utf-8")
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        return str(exc).replace(f"{path}: ", "")
    return None


def _placeholder_modules(folder: Path, table: Mapping[str, Any]) -> None:
    """Empty files at the config's relative module paths. The reader requires the module
    of a route that runs wasm to exist (route_problem), which a doc's example cannot
    ship; nothing else is created, so a route with no module named still fails. An
    absolute path is left alone (the reader then says it is missing): snippets name
    modules relative to the file, as the reader resolves them."""
    tables = [table.get("defaults"), *_values(table.get("routes"))]
    paths = [*_values(table.get("services"))]
    paths += [t.get("module") for t in tables if isinstance(t, Mapping)]
    for value in paths:
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            placeholder = folder / value
            placeholder.parent.mkdir(parents=True, exist_ok=True)
            placeholder.touch()


def _values(table: object) -> list[object]:
    return list(table.values()) if isinstance(table, Mapping) else []


@pytest.mark.parametrize("snippet", TOML_SNIPPETS, ids=_ids(TOML_SNIPPETS))
def test_toml_snippet(snippet: Snippet, tmp_path: Path) -> None:
    problem = toml_problem(snippet, tmp_path)
    if problem is not None:
        pytest.fail(f"{snippet.where}: {problem}", pytrace=False)


# --- Shell -----------------------------------------------------------------------------


def shell_script(snippet: Snippet) -> list[str]:
    """The block as bash reads it, line for line: `$ ` prompts removed and, in a console
    block, only the prompted lines and their continuations (after a backslash, or with
    the `> ` prompt) kept, the output blanked."""
    script: list[str] = []
    for line in snippet.lines:
        prompt = re.match(r"\s*\$(?: |$)", line)
        if prompt:
            line = line[prompt.end() :]
        elif snippet.lang == "console":
            kept = bool(script and script[-1])
            more = re.match(r"\s*> ", line)
            if kept and more:
                line = line[more.end() :]
            elif not (kept and _continues(script[-1])):
                line = ""
        script.append(line)
    return script


def _continues(line: str) -> bool:
    """Whether `line` ends in a line continuation (an odd number of backslashes)."""
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


class _Incomplete(Exception):
    """A quote or substitution that goes on on the next line."""


_CONTROL = ("&&", "||", ";;", "|&", "|", "&", ";", "(", ")")
_REDIRECT = re.compile(r"&>>|&>|<<<|<<-|<<|>>|>&|<&|<>|>\||<|>")
_CLOSERS = {"(": ")", "{": "}"}


def simple_commands(text: str) -> tuple[list[list[str]], list[tuple[str, bool]]]:
    """The simple commands of one logical line, as lists of words (quotes removed,
    expansions left as written, redirections dropped), and its here-documents'
    delimiters (with whether `<<-` strips tabs). Raises _Incomplete when a quote, a
    substitution or a line continuation is still open at the end."""
    commands: list[list[str]] = [[]]
    heredocs: list[tuple[str, bool]] = []
    word: str | None = None  # None: between words
    redirect: str | None = None  # an operator waiting for its target word

    def end_word() -> None:
        nonlocal word, redirect
        if word is None:
            return
        if redirect is None:
            commands[-1].append(word)
        elif redirect in ("<<", "<<-"):
            heredocs.append((word, redirect == "<<-"))
        word, redirect = None, None

    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t\n":
            end_word()
            index += 1
        elif char == "#" and word is None:  # a comment only where a word would start
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
        elif char == "\\":
            if index + 1 == len(text):
                raise _Incomplete  # a line continuation
            if text[index + 1] != "\n":  # backslash-newline joins the lines and is gone
                word = (word or "") + text[index + 1]
            index += 2
        elif char == "'":
            end = text.find("'", index + 1)
            if end < 0:
                raise _Incomplete
            word = (word or "") + text[index + 1 : end]
            index = end + 1
        elif char == '"':
            value, index = _double_quoted(text, index + 1)
            word = (word or "") + value
        elif char == "`" or (char == "$" and text[index + 1 : index + 2] in ("(", "{")):
            end = _substitution_end(text, index)
            word = (word or "") + text[index:end]  # left as written: a value unknown here
            index = end
        elif char in "<>" or text.startswith("&>", index):
            if word is not None and word.isdigit():
                word = None  # the file descriptor of 2>file
            end_word()
            match = _REDIRECT.match(text, index)
            assert match is not None
            redirect = match.group()
            index = match.end()
        elif char in "|&;()":
            end_word()
            operator = next(op for op in _CONTROL if text.startswith(op, index))
            commands.append([])
            index += len(operator)
        else:
            word = (word or "") + char
            index += 1
    end_word()
    return [command for command in commands if command], heredocs


def _double_quoted(text: str, index: int) -> tuple[str, int]:
    """The value of a "..." string whose text starts at `index`, and the index after it."""
    value = ""
    while index < len(text):
        char = text[index]
        if char == '"':
            return value, index + 1
        if char == "\\" and text[index + 1 : index + 2] in ('"', "\\", "$", "`", "\n"):
            value += text[index + 1].strip("\n")
            index += 2
        else:
            value += char
            index += 1
    raise _Incomplete


def _substitution_end(text: str, index: int) -> int:
    """The index after the $(...), ${...} or `...` that starts at `index`."""
    if text[index] == "`":
        end = text.find("`", index + 1)
        if end < 0:
            raise _Incomplete
        return end + 1
    opener = text[index + 1]
    depth = 0
    for position in range(index + 1, len(text)):
        if text[position] == opener:
            depth += 1
        elif text[position] == _CLOSERS[opener]:
            depth -= 1
            if depth == 0:
                return position + 1
    raise _Incomplete


def shell_commands(script: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    """Every simple command of a script with the index of the line it starts on:
    continuations joined, comments and here-document bodies skipped."""
    index = 0
    while index < len(script):
        start, text = index, script[index]
        index += 1
        while True:
            try:
                commands, heredocs = simple_commands(text)
                break
            except _Incomplete:
                if index >= len(script):
                    return  # bash -n reports the open quote
                text += "\n" + script[index]
                index += 1
        for delimiter, strip_tabs in heredocs:
            while index < len(script):
                line = script[index].lstrip("\t") if strip_tabs else script[index]
                index += 1
                if line == delimiter:
                    break
        for words in commands:
            yield start, words


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Words before a command that leave the command itself unchanged.
_PREFIXES = frozenset(
    {"!", "{", "if", "then", "elif", "else", "while", "until", "do", "time", "exec", "env"}
)


def bridge_arguments(words: Sequence[str]) -> list[str] | None:
    """The arguments of a `bridge ...` (or `python -m bridge ...`) command, else None."""
    index = 0
    while index < len(words) and (words[index] in _PREFIXES or _ASSIGNMENT.match(words[index])):
        index += 1
    rest = list(words[index:])
    if rest and Path(rest[0]).name == "bridge":
        return rest[1:]
    if (
        rest
        and re.fullmatch(r"python[0-9.]*", Path(rest[0]).name)
        and rest[1:3] == ["-m", "bridge"]
    ):
        return rest[3:]
    return None


def cli_problem(args: Sequence[str]) -> str | None:
    """Why `bridge ARGS` would not parse, or None. Only click's parser runs: no callback,
    no type conversion (so no path check) but for choices, nothing is invoked."""
    command: click.Command = cli
    parent: click.Context | None = None
    name = "bridge"
    rest = list(args)
    try:
        while True:
            ctx = click.Context(command, info_name=name, parent=parent, **command.context_settings)
            opts, rest, order = command.make_parser(ctx).parse_args(rest)
            if any(param.is_eager for param in order):
                return None  # --help, --version: nothing else matters
            for param in command.get_params(ctx):
                problem = _param_problem(ctx, param, opts.get(param.name or ""))
                if problem is not None:
                    return problem
            if not isinstance(command, click.Group):
                break
            if not rest:
                return "no command after bridge (bridge COMMAND ...)"
            name, *rest = rest
            found = command.get_command(ctx, name)
            if found is None:
                known = ", ".join(command.list_commands(ctx))
                return f"no such command {name!r} (commands: {known})"
            command, parent = found, ctx
    except click.UsageError as exc:
        return exc.format_message()
    if rest and not ctx.allow_extra_args:
        return f"unexpected extra arguments: {' '.join(rest)}"
    return None


def _param_problem(ctx: click.Context, param: click.Parameter, value: object) -> str | None:
    if _absent(value):
        if param.required:
            kind = "option" if isinstance(param, click.Option) else "argument"
            return f"missing {kind} {param.get_error_hint(ctx)}"
        return None
    if isinstance(param.type, click.Choice):
        choices = [str(choice) for choice in param.type.choices]
        folded = not param.type.case_sensitive
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if not isinstance(item, str) or "$" in item:
                continue  # a flag's constant, or a value only the shell knows
            if (item.lower() if folded else item) not in (
                [c.lower() for c in choices] if folded else choices
            ):
                return f"{param.get_error_hint(ctx)}: {item!r} is not one of {', '.join(choices)}"
    return None


def _absent(value: object) -> bool:
    # click >= 8.2 marks a value the command line did not give with an enum sentinel
    # (UNSET); older versions with None or ()
    return value is None or value == () or isinstance(value, enum.Enum)


def shell_problems(snippet: Snippet) -> list[str]:
    """What is wrong with a shell snippet, each as file:line: reason."""
    script = shell_script(snippet)
    problems = []
    result = subprocess.run(
        ["bash", "-n"], input="".join(f"{line}\n" for line in script), capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        for message in result.stderr.strip().splitlines():
            # bash -n says "bash: line N: ...", N counted in the block
            found = re.match(r"bash: line (\d+): (.*)", message)
            where, reason = (
                (snippet.at(int(found[1]) - 1), found[2]) if found else (snippet.where, message)
            )
            problems.append(f"{where}: bash -n: {reason}")
    for index, words in shell_commands(script):
        args = bridge_arguments(words)
        if args is not None:
            problem = cli_problem(args)
            if problem is not None:
                problems.append(f"{snippet.at(index)}: bridge {' '.join(args)}: {problem}")
    return problems


@pytest.mark.parametrize("snippet", SHELL_SNIPPETS, ids=_ids(SHELL_SNIPPETS))
def test_shell_snippet(snippet: Snippet) -> None:
    problems = shell_problems(snippet)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# --- The checks themselves ---------------------------------------------------------------


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_every_fence_is_closed(path: Path) -> None:
    unclosed = [block.where for block in fenced_blocks(path) if not block.closed]
    assert not unclosed, f"a code fence that never closes runs to the end: {unclosed}"


def test_the_documents_have_snippets_to_check() -> None:
    """An extractor that finds nothing would pass every check."""
    assert len(TOML_SNIPPETS) >= 3 and len(SHELL_SNIPPETS) >= 6
    bridge_commands = [
        args
        for snippet in SHELL_SNIPPETS
        for _, words in shell_commands(shell_script(snippet))
        if (args := bridge_arguments(words)) is not None
    ]
    assert len(bridge_commands) >= 15
    assert ["report"] in bridge_commands


def _snippet(lang: str, text: str) -> Snippet:
    return Snippet(ROOT / "README.md", 1, lang, tuple(text.splitlines()))


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["serve", "m.wasm", "--sockett", "s"], "--sockett"),  # "No such option", as click words it
        (["serve", "m.wasm", "--workers"], "'--workers' requires an argument"),
        (["serve"], "missing argument 'MODULES...'"),
        (["init", "rust", "a.proto", "--dir", "g"], "missing option '--service'"),
        (["init", "rusty", "a.proto", "--service", "s.S", "--dir", "g"], "is not one of go"),
        (["report", "extra"], "unexpected extra arguments: extra"),
        (["report", "--json=yes"], "does not take a value"),
        (["frobnicate"], "no such command 'frobnicate'"),
        (["--debug"], "no command after bridge"),
    ],
)
def test_a_bad_command_is_named(args: list[str], fragment: str) -> None:
    problem = cli_problem(args)
    assert problem is not None and fragment in problem, problem


@pytest.mark.parametrize(
    "args",
    [
        ["--debug", "serve", "a.wasm", "b.wasm", "--socket", "/s.sock", "--workers", "N"],
        ["call", "m.wasm", "add", "-5", "3"],  # negative numbers are arguments there
        ["init", "go", "a.proto", "--service", "s.S", "--dir", "$DIR", "-I", "proto"],
        ["conformance", "-h"],
        ["--version"],
    ],
)
def test_a_good_command_parses(args: list[str]) -> None:
    assert cli_problem(args) is None


def test_commands_are_found_in_shell_text() -> None:
    script = shell_script(
        _snippet(
            "console",
            "$ BRIDGE_MODE=python bridge report 2>/dev/null | tee out && bridge doctor # --x\n"
            "output, not a command: bridge --nope\n"
            "$ if bridge serve m.wasm \\\n"
            ">     --listen 127.0.0.1:0; then .venv/bin/bridge call m.wasm 'a b' \"c\"; fi\n"
            "$ # a comment's backslash continues nothing \\\n"
            "$ bridge call m.wasm p.v1.S/M '{\n"
            '>   "sku": "pear"}\' && bridge gen $(ls *.proto) --python-out "$OUT"\n'
            "$ cat <<EOF\n"
            "$ python -m bridge inspect $(ls build/*.wasm) --json\n",
        )
    )
    found = [(index, bridge_arguments(words)) for index, words in shell_commands(script)]
    assert [(index, args) for index, args in found if args is not None] == [
        (0, ["report"]),
        (0, ["doctor"]),
        (2, ["serve", "m.wasm", "--listen", "127.0.0.1:0"]),
        (2, ["call", "m.wasm", "a b", "c"]),
        (5, ["call", "m.wasm", "p.v1.S/M", '{\n  "sku": "pear"}']),
        (5, ["gen", "$(ls *.proto)", "--python-out", "$OUT"]),
    ]  # the last line is the here-document's body, up to an EOF that never comes


def test_a_bad_shell_snippet_fails_where_it_is_wrong() -> None:
    text = "bridge doctor\nBRIDGE_MODE=wasm bridge report \\\n  --mismatch 3\nif then\n"
    problems = shell_problems(_snippet("sh", text))
    assert problems[:2] == [
        "README.md:5: bash -n: syntax error near unexpected token `then'",
        "README.md:5: bash -n: `if then'",
    ]
    assert problems[2].startswith("README.md:3: bridge report --mismatch 3: No such option")
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[tool.bridge.sidecar]\ntarget = "x"\nmanaged = true\n', "choose one"),
        ("# bridge.toml\n[sidecar]\nworkers = 0\n", "sidecar.workers: must be positive"),
        ('[routes."a.v1.S/M"]\nmode = "wasm"\n', "does not say so"),
        ('[tool.bridge.routes."a.v1.S/M"]\nmode = "sidecar"\n', "needs a sidecar"),
        ("[project\n", "not valid TOML"),
    ],
    ids=["target-and-managed", "bridge.toml", "unnamed-bridge.toml", "no-sidecar", "bad-toml"],
)
def test_a_bad_toml_snippet_is_named(text: str, fragment: str, tmp_path: Path) -> None:
    problem = toml_problem(_snippet("toml", text), tmp_path)
    assert problem is not None and fragment in problem, problem


def test_a_wasm_route_gets_a_placeholder_module(tmp_path: Path) -> None:
    text = (
        '# bridge.toml\n[services]\n"a.v1.S" = "build/s.wasm"\n'
        '[routes."a.v1.S/M"]\nmode = "shadow"\n[routes."a.v1.S/N"]\nmodule = "n.wasm"\n'
    )
    assert toml_problem(_snippet("toml", text), tmp_path) is None
    assert (tmp_path / "build" / "s.wasm").is_file() and (tmp_path / "n.wasm").is_file()
    assert toml_problem(_snippet("toml", '[package]\nname = "g"\n'), tmp_path) is None
