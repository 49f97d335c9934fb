"""`haymaker run logs`: a run's agent events, one line each, or JSON Lines.

A line says what happened: the command with its exit code and duration, the resource
created or deleted, the error. `--follow` keeps printing new events until the run ends.
When there is nothing to print, stderr says so and why (stdout stays empty for a pipe).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from haymaker.cli.output import EXIT_OK, CliError, Interrupted, line, output_closed, print_json_line
from haymaker.cli.target import Target
from haymaker.cli.watch import FINISHED
from haymaker.durations import parse_duration
from haymaker.naming import iso_utc, parse_iso_utc


def since_time(text: str, now: datetime | None = None) -> str:
    """`--since`: an ISO 8601 time, or a duration back from now (PT10M)."""
    if text.startswith("P"):
        try:
            back = parse_duration(text, "--since")
        except ValueError as error:
            raise CliError(str(error), 2) from None
        return iso_utc((now or datetime.now(UTC)) - back)
    try:
        return iso_utc(parse_iso_utc(text))
    except (ValueError, OverflowError):
        raise CliError(
            f"--since: {text!r} is neither an ISO 8601 time (2026-11-26T12:00:00Z) "
            "nor a duration (PT10M)",
            2,
        ) from None


def describe(event: dict[str, Any]) -> str:
    """What the event says happened, in a few words."""
    kind = event.get("type")
    if kind == "command":
        duration = event.get("duration_s")
        took = f" in {float(duration):.2f}s" if isinstance(duration, int | float) else ""
        # A local agent's commands stand for themselves: acted out on storage, never run.
        how = "acted out locally, exit" if event.get("acted_out") else "exit"
        return (
            f"{event.get('step')}: {event.get('command')} -> {how} {event.get('exit_code')}{took}"
        )
    if kind in ("resource_created", "resource_deleted"):
        return f"{event.get('kind')} {event.get('name')}"
    if kind == "error":
        step = f"{event.get('step')}: " if event.get("step") else ""
        return f"{step}{event.get('message')}"
    if kind == "failed":
        return str(event.get("error"))
    if kind == "started":
        return f"scenario {event.get('scenario_id')}"
    if kind == "heartbeat" and event.get("rounds") is not None:
        return f"operate rounds {event.get('rounds')}"
    if kind == "phase":
        return f"entering {event.get('phase')}"
    if event.get("truncated"):
        return "(event too large to keep; cut to its id)"
    return ""


def event_line(event: dict[str, Any]) -> str:
    agent, kind, phase = (str(event.get(k) or "") for k in ("agent_id", "type", "phase"))
    return f"{event.get('ts')}  {agent:<4} {phase:<8} {kind:<16} {describe(event)}".rstrip()


def _events(target: Target, args: argparse.Namespace, since: str | None) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        page = target.api.get(
            f"runs/{args.run_id}/events",
            agent=args.agent,
            phase=args.phase,
            since=since,
            limit=1000,
            continuation=token,
        )
        events.extend(page["events"])
        token = page.get("continuation")
        if not token:
            return events


def nothing_yet(args: argparse.Namespace, since: str | None, run: dict[str, Any]) -> str:
    """What an empty answer means: filters that matched nothing, or events not recorded yet
    (an agent's events reach the run at its monitor's polls)."""
    chosen = [
        f"agent {args.agent}" if args.agent else "",
        f"phase {args.phase}" if args.phase else "",
        f"since {since}" if since else "",
    ]
    matching = ", ".join(c for c in chosen if c)
    text = f"No events of run {args.run_id}" + (f" ({matching})" if matching else "")
    status = run.get("status")
    if status in FINISHED:
        return f"{text}; the run is {status}."
    poll = (run.get("request") or {}).get("poll_interval")
    every = f", every {poll}" if poll else ""
    return (
        f"{text} yet: the run is {status}, and its agents' events are recorded at each "
        f"monitoring poll{every}."
    )


def logs(args: argparse.Namespace, target: Target) -> int:
    try:
        return _print_logs(args, target)
    except KeyboardInterrupt:  # the usual way to stop --follow: no error to report
        raise Interrupted() from None


def _print_logs(args: argparse.Namespace, target: Target) -> int:
    since = since_time(args.since) if args.since else None
    asked_since = since
    seen: set[str] = set()
    said_nothing_yet = False
    while True:
        run = target.api.get(f"runs/{args.run_id}") if args.follow else None
        finished = run is None or run.get("status") in FINISHED
        for event in _events(target, args, since):
            key = str(event.get("id") or (event.get("ts"), event.get("agent_id"), event.get("seq")))
            if key in seen:
                continue
            seen.add(key)
            if args.json:
                print_json_line(event)
            else:
                line(event_line(event))
            # Ask only for what is new next time (same-time events are told apart by id).
            since = max(since or "", str(event.get("ts") or "")) or None
        if not seen and not args.json and not said_nothing_yet:
            run = run or target.api.get(f"runs/{args.run_id}")
            sys.stderr.write(nothing_yet(args, asked_since, run) + "\n")
            said_nothing_yet = True
        if finished or output_closed():  # nobody reads on (`| head`): stop following
            return EXIT_OK
        time.sleep(args.interval)
