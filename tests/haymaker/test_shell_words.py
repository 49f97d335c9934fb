"""haymaker.shell_words splits every command line as shlex.split does (the agent splits
with shlex): the catalog's commands, hand-picked corners, and generated text."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from haymaker import shell_words
from haymaker.catalog import load_catalog
from haymaker.catalog_rules import SAMPLE_PLACEHOLDERS

ROOT = Path(__file__).resolve().parents[2]


def answer(split: Callable[[str], list[str]], text: str) -> tuple[str, object]:
    """What a splitter gives for `text`: its words, or its error."""
    try:
        return "words", split(text)
    except ValueError as error:
        return "error", str(error)


def test_every_catalog_command_splits_as_shlex_splits_it() -> None:
    commands = [
        step.command.format(**SAMPLE_PLACEHOLDERS)
        for scenario in load_catalog(ROOT / "scenarios").scenarios()
        for steps in scenario.phases().values()
        for step in steps
    ]
    assert len(commands) > 1000
    for command in commands:
        assert shell_words.split(command) == shlex.split(command), command


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "az group list",
        " \taz\r\ngroup  list \n",
        "az vm create --tags 'a=b c' env=\"dev x\"",
        "''",
        "a'' ''b \"\"",
        'a"b c"d',
        "--query \"[?name=='x'].id\"",
        '--query \'[].{n:name, "q":"v"}\'',
        'say "a \\" b \\\\ c \\$ d \\n"',
        "one\\ word two\\\\three \\'x",
        'in "dq\\\nnewline" out\\\nnewline',
        "'unclosed",
        '"unclosed',
        '"escaped at the end\\',
        "trailing backslash\\",
        "x\u00a0y \u2003z",
    ],
)
def test_corners_split_as_shlex_splits_them(text: str) -> None:
    assert answer(shell_words.split, text) == answer(shlex.split, text)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(list("ab =-'\"\\\t\n\r$\u00a0")), max_size=30))
def test_generated_text_splits_as_shlex_splits_it(text: str) -> None:
    assert answer(shell_words.split, text) == answer(shlex.split, text)
