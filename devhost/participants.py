"""Clock participants: outside processes that the virtual clock waits for, and waits with.

The virtual clock jumps only when nothing is runnable. The host sees its own work, not
that of processes beside it that follow its clock (simulated agents, test drivers): if it
jumps while one of them is busy, that process falls behind; if it never jumps while they
run, a long scenario takes hours. So such a process joins the clock as a *participant*:

- `PUT /admin/host/clock/participants/{name}` joins, busy: no jump while it is busy;
- `POST /admin/host/clock/participants/{name}/wait` with `{"until": ISO time}` makes it
  idle until the clock reaches that time (a jump may go straight there); the answer comes
  when the time is reached (`{"now", "reached": true}`, the participant busy again), or
  after `timeout` real seconds (default 20) with `reached: false`, to be asked again;
- `DELETE /admin/host/clock/participants/{name}` leaves.

A participant that joins by waiting needs no PUT; one that is started by the host's own
work should be joined by its starter first, so no jump happens before it has started.
A busy participant that has not been heard of for its lease (default 60 real seconds) is
presumed dead and dropped, so a crashed process cannot stop the clock for good.

Participants live in the host's memory. A host that starts and resumes unfinished work (a
restart, a takeover) does not know the participants of the host before it, and they do
not know it restarted: a waiting one finds out when its wait fails and asks again a few
seconds later, a busy one when it next waits. So such a host lets no jump happen for
`REJOIN_SECONDS` first; without that, an idle host would jump past the moments they wait
for (an agent's cleanup moment, its deadline) before they asked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from .clock import Clock
from .replay import parse_iso

log = logging.getLogger("devhost")
PREFIX = "/admin/host/clock/participants"
DEFAULT_LEASE_SECONDS = 60.0
DEFAULT_WAIT_SECONDS = 20.0
MAX_WAIT_SECONDS = 300.0
# Real seconds a host that resumed work waits for the participants of the host before it.
REJOIN_SECONDS = 10.0
NAME = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass
class Participant:
    name: str
    lease: float
    seen: float = field(default_factory=time.monotonic)
    # The clock time it waits for, while it waits.
    until: datetime | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    entry: Any = None


class Participants:
    """The participants of one host's clock."""

    def __init__(self, clock: Clock | None = None):
        self._clock = clock
        self._members: dict[str, Participant] = {}
        self._rejoin_until = 0.0

    @property
    def clock(self) -> Clock:
        """The clock of the host's current term (a host that takes its hub over makes a
        new one; a standby answers these routes 503 and never asks)."""
        assert self._clock is not None, "participants follow the clock of a host running its hub"
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """A new term's clock (this host took its hub over again after losing its lease):
        participants that wait keep waiting on it, until the same time. Their stops were on
        the old clock, and a wait repeated for the same time adds none: without this the new
        clock saw them idle with nothing to stop at, and jumped past them to the deadline."""
        self._clock = clock
        for member in self._members.values():
            if member.entry is not None:
                Clock.cancel(member.entry)
                member.entry = None
            if member.until is not None:
                self._schedule(member)

    def await_rejoin(self, seconds: float = REJOIN_SECONDS) -> None:
        """Not idle for `seconds`: participants of the host before this one join again."""
        self._rejoin_until = time.monotonic() + seconds

    def idle(self) -> bool:
        """True when no participant is busy (those silent past their lease are dropped) and
        no participant of an earlier host may still join again."""
        now = time.monotonic()
        if now < self._rejoin_until:
            return False
        for member in list(self._members.values()):
            if member.until is None and now - member.seen > member.lease:
                log.warning(
                    "Clock participant %s was busy and silent for %.0f s: dropped",
                    member.name,
                    member.lease,
                )
                self._leave(member.name)
        return all(member.until is not None for member in self._members.values())

    def counts(self) -> dict[str, int]:
        waiting = sum(1 for m in self._members.values() if m.until is not None)
        return {"busy": len(self._members) - waiting, "waiting": waiting}

    def join(self, name: str, lease: float = DEFAULT_LEASE_SECONDS) -> Participant:
        member = self._members.get(name)
        if member is None:
            member = self._members[name] = Participant(name, lease)
        member.lease, member.seen = lease, time.monotonic()
        return member

    def leave(self, name: str) -> bool:
        found = self._leave(name)
        self.clock.poke()
        return found

    def _leave(self, name: str) -> bool:
        member = self._members.pop(name, None)
        if member is None:
            return False
        if member.entry is not None:
            Clock.cancel(member.entry)
        member.released.set()
        return True

    async def wait(self, name: str, until: datetime, timeout: float) -> bool:
        """Idle until the clock reaches `until` (True), or `timeout` real seconds (False)."""
        member = self._members.get(name) or self.join(name)
        if member.until != until:
            if member.entry is not None:
                Clock.cancel(member.entry)
            member.until, member.released = until, asyncio.Event()
            self._schedule(member)
        self.clock.poke()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(member.released.wait(), timeout)
        member.seen = time.monotonic()
        return member.until is None

    def _schedule(self, member: Participant) -> None:
        """A stop on the clock at the member's time (released at once if that has come)."""
        assert member.until is not None
        if member.until > self.clock.now():
            member.entry = self.clock.call_at(member.until, lambda: self._release(member))
        else:
            self._release(member)

    def _release(self, member: Participant) -> None:
        """The clock reached the time: the participant is busy again from this moment."""
        member.until, member.entry, member.seen = None, None, time.monotonic()
        member.released.set()

    # -- HTTP --------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.put(PREFIX + "/{name}", self._put),
            web.delete(PREFIX + "/{name}", self._delete),
            web.post(PREFIX + "/{name}/wait", self._wait),
        ]

    async def _put(self, request: web.Request) -> web.Response:
        name = _name(request)
        body = await _body(request)
        lease = _seconds(body, "lease_seconds", DEFAULT_LEASE_SECONDS, 3600.0)
        self.join(name, lease)
        return web.json_response({"name": name, "busy": True, "lease_seconds": lease})

    async def _delete(self, request: web.Request) -> web.Response:
        name = _name(request)
        if not self.leave(name):
            raise _bad(404, "name", f"No clock participant named '{name}'.")
        return web.Response(status=204)

    async def _wait(self, request: web.Request) -> web.Response:
        name = _name(request)
        body = await _body(request)
        text = body.get("until")
        if not isinstance(text, str):
            raise _bad(400, "until", "'until' must be an ISO 8601 time, e.g. 2026-12-01T06:00:00Z.")
        try:
            until = parse_iso(text)
        except ValueError:
            raise _bad(400, "until", f"'until' is not an ISO 8601 time: {text!r}.") from None
        timeout = _seconds(body, "timeout", DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS)
        reached = await self.wait(name, until, timeout)
        return web.json_response({"now": self.clock.now().isoformat(), "reached": reached})


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not NAME.match(name):
        raise _bad(
            400, "name", "A participant name is 1-128 letters, digits and . _ : - characters."
        )
    return name


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _bad(400, "body", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad(400, "body", "The request body must be a JSON object.")
    return body


def _seconds(body: dict[str, Any], field_name: str, default: float, limit: float) -> float:
    value = body.get(field_name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= limit:
        raise _bad(
            400, field_name, f"'{field_name}' must be a number of seconds in (0, {limit:g}]."
        )
    return float(value)


def _bad(status: int, field_name: str, message: str) -> web.HTTPException:
    error = web.HTTPBadRequest if status == 400 else web.HTTPNotFound
    return error(
        text=web.json_response(
            {
                "error": {
                    "code": error.__name__.removeprefix("HTTP"),
                    "message": message,
                    "field": field_name,
                }
            }
        ).text,
        content_type="application/json",
    )
