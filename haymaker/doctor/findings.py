"""One doctor finding: a named check that passed or failed, and what to do about it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    """The shape every check returns (haymaker/infra_checks.py returns the same keys)."""

    check: str
    ok: bool
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def passed(check: str, message: str) -> Finding:
    return Finding(check, True, message)


def failed(check: str, message: str, fix: str) -> Finding:
    return Finding(check, False, message, fix)


def listing(items: list[str], limit: int = 5) -> str:
    """A short inline list: the first `limit` items, then how many more."""
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
