"""How the CLI prints: aligned tables, JSON for scripts, progress on stderr, colour on a tty."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "err_console",
    "out_console",
    "print_json",
    "print_table",
    "progress",
    "progress_if_slow",
    "warn",
]

#: Work that may be quick or not (a compile the cache may spare) shows progress once it
#: has taken this long.
SLOW_S = 1.0

# rich colours only when the stream is a terminal, and honours NO_COLOR. Off a terminal
# nothing wraps, so that grep and logs see one row per line.
_PIPE_WIDTH = 1000
out_console = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else _PIPE_WIDTH
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    table = Table(*headers, box=box.SIMPLE_HEAD, title=title or None, title_justify="left")
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    out_console.print(table)


def print_json(payload: object) -> None:
    """`payload` as indented JSON, non-ASCII text as text where stdout can encode it."""
    text = json.dumps(payload, indent=2, sort_keys=False, ensure_ascii=False)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):  # a latin-1 or ASCII terminal: \u escapes
        text = json.dumps(payload, indent=2, sort_keys=False)
    sys.stdout.write(text + "\n")


def warn(message: str) -> None:
    """One line on stderr that scripts can grep for, in colour on a terminal."""
    err_console.print(Text("warning: ", style="yellow") + Text(message))


@contextlib.contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on a terminal; one plain line on stderr otherwise, so logs show progress."""
    if err_console.is_terminal:
        with err_console.status(message):
            yield
    else:
        err_console.print(f"{message}")
        yield


@contextlib.contextmanager
def progress_if_slow(message: str, after_s: float = SLOW_S) -> Iterator[None]:
    """`progress(message)`, shown only once the block has run `after_s` seconds: a cache
    hit stays silent, a compile of several seconds does not look like a hang."""
    shown = contextlib.ExitStack()
    lock = threading.Lock()
    done = False

    def show() -> None:
        with lock:
            if not done:
                shown.enter_context(progress(message))

    timer = threading.Timer(after_s, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done = True
            timer.cancel()
            shown.close()
