"""The small subset of OData `$filter` syntax that ARM and Graph accept from HayMaker.

Supported: terms joined by `and`, each either `name eq 'value'` or a call such as
`startswith(displayName,'hm-')`, `atScope()` or `assignedTo('id')`. Anything else is rejected
with a 400 (as the real services do for filters they do not support), so an unsupported
filter in product code shows up in tests instead of silently matching everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .wire import ApiError

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<word>[A-Za-z_$][\w.$/]*)|(?P<punct>[(),]))"
)


@dataclass(frozen=True)
class Term:
    """One condition: `name eq value` (kind "eq") or `name(args)` (kind "call")."""

    kind: str
    name: str
    args: tuple[str, ...]


def parse_filter(text: str | None, *, code: str = "InvalidFilterInQueryString") -> list[Term]:
    """Parse `text` into its `and`-joined terms; an empty or missing filter is no terms."""
    if text is None or not text.strip():
        return []
    tokens = _tokenize(text, code)
    terms: list[Term] = []
    position = 0
    while True:
        term, position = _term(tokens, position, text, code)
        terms.append(term)
        if position == len(tokens):
            return terms
        if tokens[position].lower() != "and":
            raise _invalid(text, code)
        position += 1


def _tokenize(text: str, code: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        found = _TOKEN.match(text, position)
        if found is None:
            raise _invalid(text, code)
        tokens.append(found.group(found.lastgroup or "word"))
        position = found.end()
    return tokens


def _term(tokens: list[str], position: int, text: str, code: str) -> tuple[Term, int]:
    if position >= len(tokens) or not _is_word(tokens[position]):
        raise _invalid(text, code)
    name = tokens[position]
    after = tokens[position + 1] if position + 1 < len(tokens) else None
    if after is not None and after.lower() == "eq":
        value = tokens[position + 2] if position + 2 < len(tokens) else None
        if value is None or not value.startswith("'"):
            raise _invalid(text, code)
        return Term("eq", name, (_unquote(value),)), position + 3
    if after == "(":
        args: list[str] = []
        position += 2
        while position < len(tokens) and tokens[position] != ")":
            token = tokens[position]
            if token != ",":
                args.append(_unquote(token) if token.startswith("'") else token)
            position += 1
        if position >= len(tokens):
            raise _invalid(text, code)
        return Term("call", name, tuple(args)), position + 1
    raise _invalid(text, code)


def _is_word(token: str) -> bool:
    return not token.startswith("'") and token not in ("(", ")", ",")


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _invalid(text: str, code: str) -> ApiError:
    return ApiError(400, code, f"Invalid $filter '{text}': the fake does not support it.")


def single(terms: list[Term], kind: str, name: str) -> Term | None:
    """The term of `kind` whose name matches `name` case-insensitively, if any."""
    for term in terms:
        if term.kind == kind and term.name.lower() == name.lower():
            return term
    return None
