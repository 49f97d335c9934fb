"""The agent as a participant of its host's clock (devhost's virtual clock; see
devhost/participants.py for the protocol).

A local agent follows the host's clock. Between operate rounds it has nothing to do
until a clock time: it tells the host so (`wait_until`), and the host may jump straight
there instead of waiting for it in real time. While it works it is *busy*, and the clock
does not jump under it. The host's starter joins the agent before launching it (`join`),
so no jump happens while the process starts; the agent leaves when it exits.
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
from datetime import datetime
from typing import Any

from agent import host_http
from haymaker.naming import parse_iso_utc

CLOCK_URL_VARIABLE = "HAYMAKER_AGENT_CLOCK_URL"
# Real seconds one wait request may last before it is asked again.
WAIT_REQUEST_SECONDS = 20.0


class NoParticipants(Exception):
    """The host publishes a clock but takes no participants (an older host)."""


def participant_name(run_id: str, agent_id: str) -> str:
    return f"{run_id}.{agent_id}"


class ClockParticipant:
    def __init__(self, clock_url: str, name: str, timeout: float = 30.0):
        self._base = f"{clock_url.rstrip('/')}/participants/{name}"
        self._timeout = timeout

    def join(self, lease_seconds: float = 60.0) -> None:
        """Busy from now on: the clock does not jump until this participant waits."""
        self._call("PUT", self._base, {"lease_seconds": lease_seconds})

    def leave(self) -> None:
        # Not (or no longer) a participant: nothing to leave.
        with contextlib.suppress(NoParticipants):
            self._call("DELETE", self._base, None)

    def wait_until(self, moment: datetime, give_up_at: float | None = None) -> datetime | None:
        """Idle until the host's clock shows `moment`: the host's time then, or None if
        the monotonic time `give_up_at` came first."""
        while give_up_at is None or time.monotonic() < give_up_at:
            seconds = WAIT_REQUEST_SECONDS
            if give_up_at is not None:
                seconds = max(0.1, min(seconds, give_up_at - time.monotonic()))
            answer = self._call(
                "POST",
                self._base + "/wait",
                {"until": moment.isoformat(), "timeout": seconds},
                timeout=seconds + self._timeout,
            )
            if answer.get("reached"):
                return parse_iso_utc(str(answer["now"]))
        return None

    def _call(
        self, method: str, url: str, body: dict[str, Any] | None, timeout: float | None = None
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        try:
            _, text = host_http.request(method, url, data, timeout=timeout or self._timeout)
        except urllib.error.HTTPError as error:
            if error.code in (404, 405, 501):
                raise NoParticipants(f"{method} {url}: {error.code}") from None
            raise
        return dict(json.loads(text)) if text else {}
