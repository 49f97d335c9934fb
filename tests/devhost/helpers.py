"""Helpers for the end-to-end devhost tests: app copies, polling, log parsing."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests

from devhost.testing import HostHandle, running_host

APPS = Path(__file__).resolve().parent / "apps"

T = TypeVar("T")


def copy_app(name: str, destination: Path) -> Path:
    """A fresh copy of tests/devhost/apps/NAME (without any .devhost state) under destination."""
    target = destination / name
    shutil.copytree(APPS / name, target, ignore=shutil.ignore_patterns(".devhost", "__pycache__"))
    return target


def new_hub() -> str:
    """A unique task hub name (like the `unique_name` fixture, for wider-scoped fixtures)."""
    return "t" + uuid.uuid4().hex[:12]


@contextmanager
def app_host(name: str, destination: Path, **options: Any) -> Iterator[HostHandle]:
    """Copy test app NAME under destination and run a devhost on the copy."""
    with running_host(copy_app(name, destination), **options) as handle:
        yield handle


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = 15.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call `probe` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(
                f"timed out after {timeout:.0f}s waiting for {text}; last: {last!r}"
            )
        time.sleep(interval)


def wait_for_status(
    url: str,
    statuses: tuple[str, ...] = ("Completed", "Failed", "Terminated"),
    timeout: float = 15.0,
    **params: Any,
) -> dict[str, Any]:
    """Poll a status-query URL until runtimeStatus is one of `statuses`; return the body."""

    def probe() -> dict[str, Any] | None:
        response = requests.get(url, params=params or None, timeout=10)
        if response.status_code not in (200, 202):
            return None
        body: dict[str, Any] = response.json()
        return body if body.get("runtimeStatus") in statuses else None

    return wait_until(probe, timeout=timeout, message=f"{url} to reach {statuses}")


EXECUTING = re.compile(
    r"Executing 'Functions\.(?P<name>[^']+)' \(Reason='(?P<reason>.*?)', Id=(?P<id>[^)]+)\)"
)
EXECUTED = re.compile(
    r"Executed 'Functions\.(?P<name>[^']+)' \((?P<outcome>[A-Za-z]+), Id=(?P<id>[^,)]+)"
    r"(?:, Duration=(?P<duration>\d+)ms)?\)"
)


def executions(log: str, name: str) -> dict[str, dict[str, list[re.Match[str]]]]:
    """Host log lines of function `name` by invocation id.

    {invocation id: {"executing": [matches], "executed": [matches]}}
    """
    found: dict[str, dict[str, list[re.Match[str]]]] = {}
    for pattern, kind in ((EXECUTING, "executing"), (EXECUTED, "executed")):
        for match in pattern.finditer(log):
            if match.group("name") == name:
                entry = found.setdefault(match.group("id"), {"executing": [], "executed": []})
                entry[kind].append(match)
    return found
