"""Shared fixtures of the end-to-end app tests (see helpers.py for how a host is run)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.helpers import App, app_host


@pytest.fixture(scope="session")
def shared_app(
    private_storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    """One host with the default settings for every test (of a worker's session) that
    needs no other: runs are independent by run id."""
    with app_host(tmp_path_factory.mktemp("app"), private_storage_connection_string) as app:
        yield app
