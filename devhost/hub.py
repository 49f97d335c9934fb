"""A host runs its task hub only while it holds the hub's lease (see lease.py).

`HubWork` is everything a host does while it holds the lease: the clock, the history
writer, the engine (which resumes every unfinished orchestration from storage), the
virtual-time keeper, the timer triggers and the polling of queue triggers. Taking the
hub (at start, or over from another host) makes them; losing it drops them all at once:
nothing in memory survives a term, since another host may have moved the hub on
meanwhile.

`Leadership` takes the lease, runs a `HubWork` while the lease holds, and stands by
(naming the holder) while another host has it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .appconfig import AppConfig
from .clock import Clock
from .engine import Engine
from .indexer import IndexedFunction
from .lease import ACQUIRE_SECONDS, LEASE_SECONDS, Holder, HubLease
from .participants import Participants
from .queues import QueueTriggers
from .store import Store
from .timers import TimerTriggers
from .virtual_time import VirtualTimeKeeper
from .writer import HistoryWriter

log = logging.getLogger("devhost")


class HubWork:
    def __init__(
        self,
        *,
        options: Any,  # server.HostOptions
        config: AppConfig,
        functions: list[IndexedFunction],
        store: Store,
        connection: str,
        client_binding: str,
        invoke: Callable[[IndexedFunction, dict[str, Any], str], Awaitable[Any]],
        pressure: Callable[[], int],
        queues: QueueTriggers,
        participants: Participants,
    ) -> None:
        self.options = options
        self.config = config
        self.store = store
        self.invoke = invoke
        self.queues = queues
        # Time may jump when nothing is runnable here and no clock participant is busy.
        self.clock = Clock(
            virtual=options.clock == "virtual",
            is_idle=lambda: self.engine.is_idle() and participants.idle(),
            idle_settle=options.idle_settle,
        )
        participants.clock = self.clock
        self.participants = participants
        self.writer = HistoryWriter(connection, config.hub_name)
        self.engine = Engine(store, functions, self.clock, str(options.app_dir), writer=self.writer)
        self.engine.pressure = pressure
        self.engine.client_binding = client_binding
        self.host_id = f"devhost-{config.hub_name.lower()}"
        self.virtual_time: VirtualTimeKeeper | None = None
        self.timers = TimerTriggers(
            functions,
            config.settings,
            self.clock,
            store,
            self.host_id,
            invoke,
            self.engine._spawn,
            before_firing=self._save_virtual_time,
        )

    async def start(self) -> None:
        await self.writer.start()
        if self.clock.virtual:
            if self.options.clock_start is not None:
                self.clock.set_now(self.options.clock_start)
            self.virtual_time = VirtualTimeKeeper(self.clock, self.store, self.host_id)
            await self.virtual_time.restore()
        recovered = await self.engine.recover()
        if recovered:
            log.info("Resumed %d unfinished orchestration instance(s) from storage", recovered)
            if self.clock.virtual:
                self.participants.await_rejoin()
        self.clock.start()
        if self.virtual_time is not None:
            self.virtual_time.start()
        await self.timers.start()
        self.queues.start(self.invoke, self.engine._spawn)

    async def stop(self, abandon: bool = False) -> None:
        """A clean stop stores what is recorded; `abandon` (the lease is lost) writes nothing
        more: the writer is killed first, and the virtual time is not saved."""
        if abandon:
            self.writer.kill()
        await self.clock.stop()
        if self.virtual_time is not None:
            if abandon:
                self.virtual_time.discard()
            else:
                await self.virtual_time.stop()
        await self.queues.stop_polling()  # messages in flight are the engine's tasks
        await self.engine.close()
        await self.writer.close()

    async def _save_virtual_time(self) -> None:
        if self.virtual_time is not None:
            await self.virtual_time.save()


class Leadership:
    """Who runs the hub: this host (`work` is set, state Running) or another (`holder`,
    state Standby). `set_state` tells the host its state."""

    def __init__(
        self,
        lease: HubLease,
        new_work: Callable[[], HubWork],
        set_state: Callable[[str], None],
    ) -> None:
        self.lease = lease
        self.work: HubWork | None = None
        self.holder: Holder | None = None
        self._new_work = new_work
        self._set_state = set_state
        self._lost = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[None] | None = None

    async def begin(self) -> None:
        """Run the hub if its lease is free, else stand by; then keep at it in the background.

        A first attempt that storage does not answer is not fatal: the host stands by and
        tries again, as it does when the lease is held."""
        try:
            holder = await self.lease.try_acquire()
        except Exception as error:
            log.warning("Could not take the lease on task hub %s yet: %s", self.lease.hub, error)
            self._set_state("Standby")
        else:
            if holder is None:
                await self._lead()
            else:
                self._stand_by(holder)
        self._loop_task = asyncio.get_running_loop().create_task(self._keep_leading())

    async def end(self) -> None:
        """A clean stop: store what is recorded, then release the lease (a standby takes
        over at once)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        work, self.work = self.work, None
        if work is not None:
            await work.stop()
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)
        await self.lease.release()
        await self.lease.close()

    async def _lead(self) -> None:
        self.holder = None
        self.work = self._new_work()
        self._renewal = asyncio.get_running_loop().create_task(self.lease.keep(self._lease_lost))
        await self.work.start()
        self._set_state("Running")

    def _stand_by(self, holder: Holder) -> None:
        if holder != self.holder:
            log.warning(
                "Task hub %s is run by %s. This host stands by: it answers 503 and takes the "
                "hub over when that host stops (at most %d s after its last lease renewal).",
                self.lease.hub,
                holder.describe(),
                LEASE_SECONDS,
            )
        self.holder = holder
        self._set_state("Standby")

    async def _keep_leading(self) -> None:
        """Stand by until the lease is ours; lead while it is; step down when it is lost."""
        while True:
            if self.work is not None:
                await self._lost.wait()
                self._lost.clear()
                await self._step_down()
                continue
            try:
                holder = await self.lease.try_acquire()
            except Exception as error:  # storage unreachable: try again shortly
                log.warning("Could not take the lease on task hub %s: %s", self.lease.hub, error)
                holder = self.holder
            if holder is None and self.lease.held:
                try:
                    await self._lead()
                    continue
                except Exception:
                    log.exception("Taking over task hub %s failed; standing by", self.lease.hub)
                    await self._step_down()
                    await self.lease.release()
            elif holder is not None:
                self._stand_by(holder)
            await asyncio.sleep(ACQUIRE_SECONDS)

    def _lease_lost(self, reason: str) -> None:
        log.error(
            "Lost the lease on task hub %s: %s. This host stops running the hub now, so that "
            "no other host's work is done twice, and stands by to take it again.",
            self.lease.hub,
            reason,
        )
        self._lost.set()

    async def _step_down(self) -> None:
        """Stop all work at once (what is in memory is dropped; storage has the truth)."""
        self._set_state("Standby")
        work, self.work = self.work, None
        if work is not None:
            await work.stop(abandon=True)
