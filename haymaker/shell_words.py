"""Split a command line into words exactly as ``shlex.split`` does, at regex speed.

``shlex`` reads one character at a time in Python: splitting the catalog's commands (1,563
splits of 1,057 commands) was 60% of loading it, and every HayMaker host loads it once,
tools and tests many times. The
rules are shlex's POSIX ones, no more: words are separated by spaces, tabs, CRs and
newlines; single quotes keep everything; in double quotes a backslash escapes only a
double quote or a backslash (elsewhere it stays); outside quotes it escapes any character.
Text that shlex would refuse (an unclosed quote, a trailing backslash) goes to shlex, so
the error is its own. ``tests/haymaker/test_shell_words.py`` holds the two to the same
answers.
"""

from __future__ import annotations

import re
import shlex

_WORDS_WITHOUT_QUOTES = re.compile(r"[^ \t\r\n]+")
_PIECE = re.compile(
    r"""(?P<space>[ \t\r\n]+)
      | (?P<plain>[^ \t\r\n'"\\]+)
      | '(?P<single>[^']*)'
      | "(?P<double>(?:[^"\\]|\\.)*)"
      | \\(?P<escaped>.)""",
    re.VERBOSE | re.DOTALL,
)
_ESCAPE_IN_DOUBLE_QUOTES = re.compile(r"\\(.)", re.DOTALL)


def _unescape_double_quoted(match: re.Match[str]) -> str:
    char = match.group(1)
    return char if char in '"\\' else "\\" + char


def split(text: str) -> list[str]:
    """``shlex.split(text)``: the same words, or the same ValueError."""
    if not any(char in text for char in "'\"\\"):
        return _WORDS_WITHOUT_QUOTES.findall(text)
    words: list[str] = []
    word: list[str] | None = None  # None between words; a quoted '' still makes a word
    position = 0
    while position < len(text):
        piece = _PIECE.match(text, position)
        if piece is None:  # an unclosed quote or a trailing backslash: shlex says which
            return shlex.split(text)
        position = piece.end()
        kind = piece.lastgroup
        if kind == "space":
            if word is not None:
                words.append("".join(word))
                word = None
            continue
        if word is None:
            word = []
        value = piece.group(kind or "")
        if kind == "double":
            value = _ESCAPE_IN_DOUBLE_QUOTES.sub(_unescape_double_quoted, value)
        word.append(value)
    if word is not None:
        words.append("".join(word))
    return words
