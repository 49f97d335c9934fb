""" "Did you mean ...?" for a mistyped name (a command, a scenario id, an agent id)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_WORD = 100


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the closest choices, or "" when none is close."""
    if len(word) > MAX_WORD:  # no typo of a name; and comparing it would take quadratic time
        return ""
    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
