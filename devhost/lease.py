"""One host per task hub: a blob lease, taken and renewed as the real backends do.

The Durable Task Framework's Azure Storage backend lets a worker process a partition only
while it holds that partition's blob lease (`<hub>-leases/default/<hub>-control-NN`),
renewed periodically; its app lease (`<hub>-applease`) does the same for a whole app, and
a worker whose renewal fails stops processing and goes back to acquiring. devhost runs
every partition of its hub in one process, so one lease stands for the hub: the blob
`devhost-owner` in `<hub>-leases`, holding a description of the host that leases it.

- A host works only while it holds the lease. One that finds it held stands by, says
  who holds it, and tries again every `ACQUIRE_SECONDS`: it takes over once the holder
  releases it (a clean stop) or lets it expire (`LEASE_SECONDS` after its last renewal;
  a kill -9, a hang, a lost network).
- A holder on this machine whose process is gone is not waited for: its lease is broken
  at once. The break is conditional on the blob still describing that holder (its ETag),
  so a host that has just taken the lease over is never broken by a slower standby.
- The holder renews every `RENEW_SECONDS`, a failed renewal again within `RETRY_SECONDS`,
  and no renewal may outlast the lease. When renewals fail until `LOSS_MARGIN_SECONDS`
  before the lease could lapse (another host may take it then), or storage says it is
  held by someone else, the lease is lost and the host must stop working at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from .blob_rest import blobs_for

log = logging.getLogger("devhost")

# As DTFx's partition leases: 30 s, renewed every 10 s (a storage emulator on a loaded
# machine can take seconds to answer; a renewal that fails twice is no emergency yet).
LEASE_SECONDS = 30
RENEW_SECONDS = 10
ACQUIRE_SECONDS = 2
# A renewal must succeed this long before the lease would lapse, or the host stops first.
LOSS_MARGIN_SECONDS = 5
# A renewal that failed is tried again this soon while the lease lasts (the storage SDK's
# own retry would wait 15 s, past the moment the lease could lapse).
RETRY_SECONDS = 2
LEASE_BLOB = "devhost-owner"
# A lease request must not hang longer than a renewal interval; one that fails is tried
# once more (but a renewal or release only once: see keep and release).
_TIMEOUTS: dict[str, Any] = {"connect_timeout": 5, "read_timeout": 8, "retries": 1}


@dataclass(frozen=True)
class Holder:
    """Who holds a hub: enough for a person to find it, and for this machine to tell
    whether it is still alive."""

    host: str
    pid: int
    url: str
    app: str
    since: str
    boot: str = ""  # this boot of the machine (Linux), so a pid is compared within it
    started: str = ""  # the process's start time (Linux), so a reused pid is not it

    @classmethod
    def this_process(cls, url: str, app: str) -> Holder:
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            url=url,
            app=app,
            since=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            boot=_boot_id(),
            started=_start_time(os.getpid()),
        )

    def describe(self) -> str:
        where = f"{self.url}, app {self.app}, since {self.since}"
        return f"devhost pid {self.pid} on {self.host} ({where})"

    def is_gone(self) -> bool:
        """True only when this holder's process is provably not running (on this machine)."""
        if self.host != socket.gethostname() or (self.boot and self.boot != _boot_id()):
            return False  # another machine (or we cannot tell): wait for the lease to lapse
        if self.started:
            return _start_time(self.pid) != self.started
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class LeaseLost(Exception):
    pass


class HubLease:
    """The lease on one task hub, for one host process."""

    def __init__(self, connection_string: str, hub: str, me: Holder) -> None:
        self.me = me
        self.hub = hub
        self._blobs = blobs_for(connection_string, **_TIMEOUTS)
        self._container = f"{hub.lower()}-leases"
        self._lease_id = str(uuid.uuid4())  # proposed when acquiring, as the SDK does
        self._renewed_at = 0.0
        self.held = False

    async def open(self) -> None:
        """Create the container and the lease blob if missing (idempotent)."""
        with contextlib.suppress(ResourceExistsError):
            await self._blobs.create_container(self._container)
        if not await self._blobs.exists(self._container, LEASE_BLOB):
            # Another host may create (and lease) it meanwhile: fine.
            with contextlib.suppress(ResourceExistsError, HttpResponseError):
                await self._blobs.upload(self._container, LEASE_BLOB, b"{}", overwrite=False)

    async def try_acquire(self) -> Holder | None:
        """Take the lease if free (or its holder is gone); else return who holds it."""
        # The lease runs from when storage took the request: between asking and the answer.
        asked = asyncio.get_running_loop().time()
        try:
            await self._act("acquire", seconds=LEASE_SECONDS)
        except HttpResponseError as error:
            if error.status_code != 409:
                raise
            holder, etag = await self._holder()
            if holder is None or not holder.is_gone():
                return holder or Holder("unknown", 0, "unknown", "unknown", "unknown")
            log.warning(
                "The holder of task hub %s is gone (%s): taking over", self.hub, holder.describe()
            )
            if not await self._break(etag):
                return holder
            await self._act("acquire", seconds=LEASE_SECONDS)
        # The lease is ours only once the blob says so: a standby that breaks a holder it
        # saw gone does so only while the blob still names that holder (see _break).
        body = json.dumps(asdict(self.me)).encode()
        await self._blobs.upload(self._container, LEASE_BLOB, body, lease_id=self._lease_id)
        self._renewed_at = asked
        self.held = True
        return None

    async def keep(self, on_lost: Callable[[str], Any]) -> None:
        """Renew until cancelled; call `on_lost(reason)` once the lease may be someone else's.

        No renewal outlasts the time the lease has left (less LOSS_MARGIN_SECONDS), and one
        that failed is tried again within RETRY_SECONDS: a host whose storage hangs stops
        working before its lease could lapse and another host take the hub."""
        loop = asyncio.get_running_loop()
        pause: float = RENEW_SECONDS
        while self.held:
            await asyncio.sleep(pause)
            deadline = self._renewed_at + LEASE_SECONDS - LOSS_MARGIN_SECONDS
            asked = loop.time()
            try:
                await asyncio.wait_for(self._act("renew"), max(deadline - asked, 0))
                self._renewed_at = asked
                pause = RENEW_SECONDS
                continue
            except HttpResponseError as error:
                if error.status_code in (409, 412):  # broken, or another lease id now
                    self.held = False
                    code = getattr(error, "error_code", None) or error.status_code
                    on_lost(f"storage says the lease is no longer ours ({code})")
                    return
                failure = f"{type(error).__name__} ({error.status_code})"
            except TimeoutError:
                failure = "no answer"
            except Exception as error:  # unreachable
                failure = type(error).__name__
            left = deadline - loop.time()
            if left <= 0:
                self.held = False
                unrenewed = loop.time() - self._renewed_at
                on_lost(f"the lease could not be renewed for {unrenewed:.0f} s ({failure})")
                return
            log.warning(
                "Renewing the lease on task hub %s failed (%s); retrying", self.hub, failure
            )
            pause = min(RETRY_SECONDS, left)

    async def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            # Tried once: the storage SDK's retry waits 15 s first, and a stopping host
            # (Ctrl+C) would sit silent that long when storage is gone.
            await self._act("release")
        except Exception as error:  # it lapses by itself within LEASE_SECONDS
            log.warning("Releasing the lease on task hub %s failed: %s", self.hub, error)

    async def close(self) -> None:
        await self._blobs.close()

    async def _act(self, action: str, seconds: int | None = None) -> None:
        await self._blobs.lease(
            self._container, LEASE_BLOB, action, self._lease_id, seconds=seconds
        )

    async def _holder(self) -> tuple[Holder | None, str | None]:
        try:
            body, etag = await self._blobs.download(self._container, LEASE_BLOB)
            return Holder(**json.loads(body)), etag
        except (ResourceNotFoundError, ValueError, TypeError):
            return None, None

    async def _break(self, etag: str | None) -> bool:
        """Break the lease of a holder that is gone, if the blob still names it."""
        if etag is None:
            return False
        try:
            # Any lease id: a break names none.
            await self._blobs.lease(
                self._container, LEASE_BLOB, "break", self._lease_id, seconds=0, if_match=etag
            )
        except HttpResponseError as error:
            if error.status_code in (409, 412):  # someone else took it meanwhile
                return False
            raise
        return True


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The process's start time since boot (clock ticks), or "" if it is not running here."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22; the command name (field 2) is in parentheses and may hold spaces.
    return stat.rsplit(")", 1)[1].split()[19]
