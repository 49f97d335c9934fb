"""Every devhost these tests start checks its orchestrator sessions against full replays."""

from __future__ import annotations

import pytest

from devhost.sessions import CHECK_ENV


@pytest.fixture(autouse=True)
def check_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    """A resumed episode that answers differently from a full replay fails its instance."""
    monkeypatch.setenv(CHECK_ENV, "1")
