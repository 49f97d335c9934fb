"""When the first episodes of starts run (start_burst.py): a lone start's at once; those of
a burst once starts stop arriving, and never later than the longest wait however long the
burst lasts; none after the host stops (the start log keeps them for the next host)."""

from __future__ import annotations

import asyncio

from devhost.start_burst import StartBurst

QUIET, LONGEST = 0.05, 0.3


def burst(ran: list[str]) -> StartBurst[str]:
    return StartBurst(ran.append, quiet=QUIET, longest=LONGEST)


def take(starts: StartBurst[str], *names: str) -> None:
    """Starts taken at once (each is being taken while the others are), then stored."""
    for _ in names:
        starts.arriving()
    for name in names:
        starts.admit(name)
    for _ in names:
        starts.taken()


def test_a_lone_start_runs_at_once() -> None:
    async def main() -> None:
        ran: list[str] = []
        starts = burst(ran)
        for name in ("a", "b"):  # one after another: each alone
            take(starts, name)
            assert ran[-1] == name

    asyncio.run(main())


def test_a_burst_runs_once_starts_stop_arriving() -> None:
    async def main() -> None:
        ran: list[str] = []
        starts = burst(ran)
        take(starts, "a", "b")  # two being taken at once
        take(starts, "c")  # a third, alone, while the others wait: it waits with them
        assert ran == []
        await asyncio.sleep(QUIET * 2)
        assert ran == ["a", "b", "c"]
        take(starts, "d")  # the burst is over: a new lone start runs at once
        assert ran == ["a", "b", "c", "d"]

    asyncio.run(main())


def test_a_burst_that_goes_on_does_not_hold_its_first_starts_past_the_longest_wait() -> None:
    async def main() -> None:
        ran: list[str] = []
        starts = burst(ran)
        loop = asyncio.get_running_loop()
        began = loop.time()
        first_ran_at = None
        n = 0
        while loop.time() - began < LONGEST * 3:  # a start every 10 ms, two at a time
            take(starts, f"{n}", f"{n + 1}")
            n += 2
            if ran and first_ran_at is None:
                first_ran_at = loop.time() - began
            await asyncio.sleep(0.01)
        # Run while starts still arrived (the burst lasts three longest waits), and about
        # when the longest wait ended (the margin: a loaded machine's late timers).
        assert first_ran_at is not None and first_ran_at < 2 * LONGEST
        await asyncio.sleep(QUIET * 2)
        assert ran == [f"{i}" for i in range(n)]  # every one, in the order taken

    asyncio.run(main())


def test_after_close_nothing_held_runs() -> None:
    async def main() -> None:
        ran: list[str] = []
        starts = burst(ran)
        starts.arriving()
        starts.arriving()
        starts.admit("a")
        starts.close()
        await asyncio.sleep(QUIET * 2)
        assert ran == []

    asyncio.run(main())
