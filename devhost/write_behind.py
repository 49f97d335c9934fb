"""Write-behind: an instance's history goes to storage behind the episodes that made it.

Work an episode asks for starts without waiting for its write: if the host dies first, the
replay on restart asks for it again (activities run at least once, as in Azure), and loading
keeps only whole episodes. While one write of an instance is in flight, later episodes'
events gather and go together in the next one (a group commit). A start's Instances row
goes with its first episode's history, after it (the start itself is in the start log):
an instance that finishes in its first episode costs one row write, not two.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .instance import Live
from .replay import played_json

if TYPE_CHECKING:
    from .engine_parts import EngineParts

log = logging.getLogger("devhost")


class WriteBehind:
    """History and instance-row writes (a mixin of `Engine`)."""

    def _record(
        self: EngineParts, live: Live, events: list[dict[str, Any]], consumed: list[str]
    ) -> None:
        """Append events to the history and write them behind, in order per instance.

        Work the episode asked for starts without waiting for the write: if the host
        dies first, the replay on restart asks for it again (activities run at least
        once, as in Azure), and loading keeps only whole episodes. Messages consumed by
        the episode are deleted only once its events are stored.
        """
        live.unwritten.append((live.execution_id, len(live.history), events, consumed))
        live.recorded = True
        live.history.extend(events)
        live.history_json.extend(played_json(e) for e in events)
        self._write_soon(live)

    def _write_soon(self: EngineParts, live: Live) -> None:
        """Start the instance's writer task unless one runs (it takes what was recorded)."""
        if live.last_write is None or live.last_write.done():
            live.last_write = asyncio.get_running_loop().create_task(self._write_behind(live))
            self._inflight += 1
            live.last_write.add_done_callback(self._write_done)

    async def _write_behind(self: EngineParts, live: Live) -> None:
        """Store what was recorded, many episodes per write when the host is busy.

        While one write is in flight, later episodes' events gather and go together in the
        next one (a group commit: fewer, larger requests). A write that fails for good is
        logged and the next goes on: loading stops at the gap it leaves.
        """
        while live.unwritten:
            pending, live.unwritten = live.unwritten, []
            live.taken.set()
            # Continue-as-new flushes before it changes the execution, so one execution.
            execution_id, start = pending[0][0], pending[0][1]
            events = [e for _, _, batch, _ in pending for e in batch]
            consumed = [m for _, _, _, messages in pending for m in messages]
            try:
                if events:
                    await self._with_retries(
                        self.writer.append_history, live.instance_id, execution_id, start, events
                    )
                # With the instance's next messages, when more are arriving.
                await self.message_log.delete(live.instance_id, consumed)
            except Exception:
                log.exception("Writing the history of %s to storage failed", live.instance_id)
            # A start's row, after its first history, with what episodes changed in it
            # meanwhile; a final status only once every recorded event is stored.
            row = live.row_unwritten
            if row is not None and not (live.unwritten and "CompletedTime" in row):
                live.row_unwritten = None
                if not await self._create_row(live, row):
                    return

    async def _create_row(self: EngineParts, live: Live, row: dict[str, Any]) -> bool:
        """Store a logged start's row; False if an unfinished instance holds its id."""
        instance_id = live.instance_id
        try:
            holder = await self._with_retries(self.writer.create_instance, instance_id, row)
        except Exception:
            # The instance runs on; its log entry stays, so a restart creates the row.
            log.exception("Storing the row of %s failed", instance_id)
            return True
        finally:
            self._row_stored(instance_id)
        self.start_log.forget(live.execution_id)
        if holder is None:
            if "CompletedTime" in row:
                self.remember_final_row(instance_id, row)
            return True
        # Only when storage was changed behind this host's back: its lease excludes others.
        log.error(
            "Start of %s dropped: an instance %s in storage holds the id", instance_id, holder
        )
        if self.live.get(instance_id) is live:
            self.live.pop(instance_id)
        live.unwritten.clear()
        return False

    def _write_done(self: EngineParts, task: asyncio.Task[None]) -> None:
        self._inflight -= 1
        self.clock.poke()

    async def _taken(self: EngineParts, live: Live) -> None:
        """Wait until the writer takes what was recorded for the instance (the write in
        flight is stored), or stops."""
        while live.unwritten and live.last_write is not None and not live.last_write.done():
            live.taken.clear()
            taken = asyncio.ensure_future(live.taken.wait())
            try:
                await asyncio.wait([taken, live.last_write], return_when=asyncio.FIRST_COMPLETED)
            finally:
                taken.cancel()

    async def _flush(self: EngineParts, live: Live) -> None:
        """Wait until everything recorded for the instance is in storage."""
        if live.last_write is not None:
            await asyncio.shield(live.last_write)

    async def _update_row(self: EngineParts, instance_id: str, fields: dict[str, Any]) -> None:
        # A merge before the start's row is stored would create a row without its fields.
        stored = self._starting.get(instance_id)
        if stored is not None:
            await stored.wait()
        await self._with_retries(self.writer.update_instance, instance_id, fields)

    @staticmethod
    async def _with_retries(operation: Any, *args: Any, attempts: int = 5) -> Any:
        for attempt in range(attempts):
            try:
                return await operation(*args)
            except Exception:
                if attempt == attempts - 1:
                    raise
                log.warning("Storage write failed; retrying", exc_info=True)
                await asyncio.sleep(0.2 * 2**attempt)
