"""The request log: one record per request, for tests to assert on what the product sent."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RequestRecord:
    """A request the fake received. Bodies are never recorded (they may hold secrets)."""

    time: float
    """When it arrived, by the fake's clock."""
    method: str
    path: str
    """The path as sent (percent-encoded), without the query."""
    query: dict[str, str]
    op: str
    """Its op name (see faults.py), or "unknown"."""
    status: int | None = None
    """The status answered; None while in flight, or if it was dropped (see `dropped`)."""
    dropped: bool = False
    """True if a hang fault held it and its client had gone when it was released."""
