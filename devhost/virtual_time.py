"""The virtual clock's time survives a restart: it never runs behind what the host showed.

A virtual clock starts from real time, while the time it showed before a restart may be
hours ahead (it jumps whenever the host is idle). Going back would fire again timer
occurrences that already fired and hide that one was missed. So the latest time is kept
in storage: saved every second while the host runs, before every timer firing and at a
clean stop, and restored at start. A kill -9 may lose up to a second of it; recovery
also moves the clock to the newest history it loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from .clock import Clock
from .store import Store

log = logging.getLogger("devhost")
SAVE_INTERVAL_SECONDS = 1.0


class VirtualTimeKeeper:
    def __init__(self, clock: Clock, store: Store, host_id: str):
        self.clock = clock
        self.store = store
        self.host_id = host_id
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def restore(self) -> None:
        saved = await self.store.read_clock(self.host_id)
        if saved is not None and saved > self.clock.now():
            self.clock.advance_to(saved)
            log.info("Virtual clock resumed at %s, the latest time it showed", saved.isoformat())

    async def save(self) -> None:
        await self.store.write_clock(self.host_id, self.clock.now())

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._keep())

    def discard(self) -> None:
        """Stop saving, without a last save: a host that lost its hub's lease must not
        write the time after the host that took the hub over."""
        self._stopping.set()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
        with contextlib.suppress(Exception):
            await self.save()

    async def _keep(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=SAVE_INTERVAL_SECONDS)
            if not self._stopping.is_set():
                try:
                    await self.save()
                except Exception as error:  # storage away: the next save tries again
                    log.warning("Could not save the virtual clock: %s", error)
