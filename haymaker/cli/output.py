"""Terminal output: rich tables for people, JSON for scripts, one-line errors.

Status URLs carry the task hub's system key (`code=`); every output masks it unless the
user asks for it with `--show-keys`. When the reader of a pipe goes away (`| head -1`),
the rest of the output is discarded and the command goes on to its own exit code: a run
started is reported as started (exit 0) to a `set -o pipefail` script, which would
otherwise start it again. Loops that only follow (--follow, --watch, --wait) end then.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devhost.keys import mask_key

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
# Width when the output is not a terminal (a pipe, a CI log): wide enough that a table or
# progress line is never cut at the 80 columns rich would assume.
PIPE_WIDTH = 200


class CliError(Exception):
    """A failure to report in one line (what failed, what to do) with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class Interrupted(Exception):
    """Ctrl-C, with what it left behind and what to do (the message; empty says nothing):
    exit 130, and not an error."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)


_reader_gone = False


def output_closed() -> bool:
    """Whether stdout's reader went away (`| head`): what follows goes nowhere."""
    return _reader_gone


def discard_output() -> None:
    """Point stdout at /dev/null: the rest of the output, and the interpreter's final
    flush of what is buffered, go nowhere instead of failing."""
    global _reader_gone
    _reader_gone = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextmanager
def writing() -> Iterator[None]:
    """A broken pipe on stdout discards the rest of the output (never an error)."""
    try:
        yield
    except BrokenPipeError:
        discard_output()


def console() -> Console:
    # Built per call so tests that swap sys.stdout see the output. Imported here: a command
    # that prints JSON (scripts, CI) never loads rich, a sixth of the CLI's start-up.
    from rich.console import Console

    class QuietOnBrokenPipe(Console):
        """rich's own answer to a broken pipe is SystemExit(1), whatever the command did."""

        def on_broken_pipe(self) -> None:
            self.quiet = True
            discard_output()

    tty = sys.stdout.isatty()
    return QuietOnBrokenPipe(
        file=sys.stdout, highlight=False, soft_wrap=True, width=None if tty else PIPE_WIDTH
    )


def masked(value: Any) -> Any:
    """A JSON value with every `code=` key in its strings masked."""
    if isinstance(value, str):
        return mask_key(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def print_json(value: Any, reveal: bool = False) -> None:
    """Pretty JSON; keys in URLs masked unless `reveal` (`--show-keys`)."""
    text = json.dumps(value if reveal else masked(value), indent=2, default=str)
    line(text)


def print_json_line(value: Any) -> None:
    """One compact JSON object on one line (JSON Lines), keys masked."""
    line(json.dumps(masked(value), separators=(",", ":"), default=str))


def line(text: str) -> None:
    """A plain line on stdout, flushed at once (progress in a pipe must not wait)."""
    with writing():
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


@dataclass(frozen=True)
class Grid:
    """A titled table: boxed by rich on a terminal, plain columns in a pipe."""

    title: str | None
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def boxed(self) -> Table:
        from rich.table import Table

        grid = Table(title=self.title, title_justify="left", header_style="bold")
        for column in self.columns:
            grid.add_column(column)
        for row in self.rows:
            grid.add_row(*row)
        return grid

    def plain(self) -> str:
        """One header line and a line a row, columns two spaces apart, no trailing blanks:
        `awk`, `cut` and `grep` see words, not box-drawing characters (--json is the
        format for programs)."""
        # A cell's own line breaks (an error's traceback) would split its row in two.
        lines = [[" ".join(cell.split()) for cell in row] for row in (self.columns, *self.rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.columns))]
        text = [
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        return "\n".join(([self.title] if self.title else []) + text)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Grid:
    cells = tuple(tuple("" if cell is None else str(cell) for cell in row) for row in rows)
    return Grid(title, tuple(columns), cells)


def show(*renderables: Any) -> None:
    """Print tables and text; plain strings are never read as rich markup."""
    from rich.text import Text

    out = console()
    tty = sys.stdout.isatty()
    with writing():
        for renderable in renderables:
            if isinstance(renderable, Grid):
                if not renderable.rows:  # a header over nothing says less than words
                    title = renderable.title
                    renderable = f"{title}: none" if title else "None."
                else:
                    renderable = renderable.boxed() if tty else renderable.plain()
            out.print(Text(renderable) if isinstance(renderable, str) else renderable)


def status_url(url: str, reveal: bool) -> str:
    return url if reveal else mask_key(url)


def error_line(message: str) -> None:
    sys.stderr.write(f"haymaker: error: {mask_key(message)}\n")
