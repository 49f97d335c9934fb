"""Terminal output: rich tables for people, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from devhost.keys import mask_key

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report in one line (what failed, what to do) with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def console() -> Console:
    # Built per call so tests that swap sys.stdout see the output.
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def masked(value: Any) -> Any:
    """A JSON value with every `code=` key in its strings masked."""
    if isinstance(value, str):
        return mask_key(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(masked(value), indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    return grid


def show(*renderables: Any) -> None:
    """Print tables and text; plain strings are never read as rich markup."""
    out = console()
    for renderable in renderables:
        out.print(Text(renderable) if isinstance(renderable, str) else renderable)


def error_line(message: str) -> None:
    sys.stderr.write(f"haymaker: error: {mask_key(message)}\n")
