"""`haymaker run ...`: start, inspect, follow and cancel runs through the HTTP API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from haymaker.cli.output import (
    EXIT_FAILURE,
    EXIT_OK,
    Interrupted,
    output_closed,
    print_json,
    show,
    status_url,
    table,
)
from haymaker.cli.parser import iso
from haymaker.cli.report import render_report
from haymaker.cli.target import Target
from haymaker.cli.watch import FINISHED, phase_counts, watch_run
from haymaker.progress import told


def run_request(args: argparse.Namespace) -> dict[str, Any]:
    request: dict[str, Any] = {}
    if args.scenarios:
        request["scenarios"] = args.scenarios
    elif args.count is not None:
        request["count"] = args.count
    else:
        request["size"] = args.size
    if args.duration:
        request["duration"] = iso(args.duration)
    if args.poll:
        request["poll_interval"] = iso(args.poll)
    if args.region:
        request["region"] = args.region
    if args.run_id:
        request["run_id"] = args.run_id
    if args.dry_run:
        request["dry_run"] = True
    return request


def start(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.post("runs", run_request(args))
    if args.dry_run:
        if args.json:
            print_json(answer)
        else:
            show(*plan_view(answer))
        return EXIT_OK if answer["within_budget"] else EXIT_FAILURE
    run_id = answer["run_id"]
    reveal = args.show_keys
    if args.json and not args.wait:
        print_json(answer, reveal)
        return EXIT_OK
    if not args.json:
        show(
            # An id that named a run already: that run's plan, and nothing new started.
            f"Run {run_id} started"
            if answer.get("created", True)
            else f"Run {run_id} exists already (started earlier): nothing new started",
            f"status: {status_url(answer['statusQueryGetUri'], reveal)}",
            f"plan: {answer['plan']['agents']} agents, "
            f"estimated cost ${answer['plan']['estimated_cost_usd']:.2f}",
        )
    if not args.wait:
        return EXIT_OK
    try:
        run = watch_run(target, run_id, live=not args.json, interval=args.interval)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: run {run_id} goes on without this command; follow it with "
            f"`haymaker run status {run_id} --watch`, end it with `haymaker run cancel {run_id}`"
        ) from None
    if output_closed():  # the reader went before the run ended: it started, that is all
        return EXIT_OK
    report = target.api.get(f"runs/{run_id}/report") if run.get("status") in FINISHED else {}
    if args.json:
        print_json({"run": run, "report": report, "started": answer}, reveal)
    elif report:
        show(*render_report(report, "table"))
    return EXIT_OK if ended_well(report) else EXIT_FAILURE


def plan_view(plan: dict[str, Any]) -> list[Any]:
    """What a run would be: its agents' scenarios and its estimated cost against the budget."""
    budget = plan.get("budget_usd")
    if budget is None:
        verdict = "no budget set (HAYMAKER_MAX_RUN_COST_USD)"
    elif plan["within_budget"]:
        verdict = f"within the budget of ${budget:.2f}"
    else:
        verdict = f"OVER the budget of ${budget:.2f}: the run would be refused"
    header = (
        f"Plan for run {plan['run_id']} (nothing started): {plan['agents']} agents for "
        f"{plan['duration']}\nestimated cost ${plan['estimated_cost_usd']:.2f}, {verdict}"
    )
    rows = (
        (s["id"], s["agents"], f"${s['cost_per_hour_usd']:.2f}", f"${s['usd']:.2f}")
        for s in plan["cost"]["scenarios"]
    )
    return [header, table(None, ("scenario", "agents", "per hour", "estimate"), rows)]


def ended_well(report: dict[str, Any]) -> bool:
    """Exit 0 for a run that finished (completed, or canceled on purpose) with every agent
    torn down and nothing left; a failed run or anything left behind is exit 1."""
    return (
        report.get("status") in ("completed", "canceled")
        and report.get("torn_down") == report.get("agents")
        and report.get("left_behind") == 0
    )


def status(args: argparse.Namespace, target: Target) -> int:
    if args.watch:
        try:
            run = watch_run(target, args.run_id, live=not args.json, interval=args.interval)
        except KeyboardInterrupt:  # the usual way to stop watching: no error to report
            raise Interrupted() from None
    else:
        run = target.api.get(f"runs/{args.run_id}")
    if args.json:
        print_json(run)
    elif not args.watch:
        show(*status_view(run))
    return EXIT_OK if run.get("status") != "failed" else EXIT_FAILURE


def when(run: dict[str, Any]) -> str:
    """Its start and deadline, both on the run's own (maybe virtual) clock, once it has
    started; until then its creation (wall clock): one clock per line, never mixed."""
    if run.get("started_at"):
        return f"started {run['started_at']}, deadline {run.get('deadline') or '-'}"
    return f"created {run.get('created_at')}"


def status_view(run: dict[str, Any]) -> list[Any]:
    header = f"Run {run.get('run_id')}: {run.get('status')}  [{phase_counts(run)}]\n" + when(run)
    return [header, agents_table(None, run.get("agents", []))]


AGENT_COLUMNS = ("agent", "scenario", "phase", "status", "rounds", "commands", "failed", "error")


def agents_table(title: str | None, agents: list[dict[str, Any]]) -> Any:
    """The agents' rows: rounds, commands and failed commands so far, as each agent's
    heartbeats and last event told them (`-` until it tells any)."""
    rows = (
        (
            a.get("agent_id"),
            a.get("scenario_id"),
            a.get("phase"),
            a.get("status"),
            told(a.get("rounds")),
            told(a.get("commands")),
            told(a.get("commands_failed")),
            a.get("error"),
        )
        for a in agents
    )
    return table(title, AGENT_COLUMNS, rows)


# Runs asked for per request when a listing pages (the API serves up to 200 a page).
RUNS_PAGE = 100


def recent_runs(
    target: Target, limit: int | None, status: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` runs (every run for None), newest first, asked for a page at a time;
    and the continuation token when more runs are left."""
    runs: list[dict[str, Any]] = []
    token = None
    while limit is None or len(runs) < limit:
        want = RUNS_PAGE if limit is None else min(RUNS_PAGE, limit - len(runs))
        page = target.api.get("runs", status=status, limit=want, continuation=token)
        runs.extend(page["runs"])
        token = page.get("continuation")
        if not token:
            break
    return runs, token


def list_runs(args: argparse.Namespace, target: Target) -> int:
    limit = None if args.all else args.limit
    runs, token = recent_runs(target, limit, args.status)
    if args.json:
        print_json({"runs": runs, "continuation": token})
    else:
        rows = (
            (r.get("run_id"), r.get("status"), r.get("agents_total"), r.get("created_at"))
            for r in runs
        )
        show(table("Runs, newest first", ("run", "status", "agents", "created"), rows))
    if token and limit is not None:
        # On stderr: a script reading the table (or the JSON) sees only runs.
        sys.stderr.write(f"{len(runs)} runs shown; there are more: --limit {2 * limit} or --all\n")
    return EXIT_OK


def agents(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.get(f"runs/{args.run_id}/agents")
    if args.json:
        print_json(answer)
        return EXIT_OK
    show(agents_table(f"Agents of {args.run_id}", answer["agents"]))
    return EXIT_OK


def resources(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.get(f"runs/{args.run_id}/resources", agent=args.agent)
    if args.json:
        print_json(answer)
        return EXIT_OK
    rows = (
        (r.get("agent_id"), r.get("kind"), r.get("name"), r.get("action"), r.get("reason") or "")
        for r in answer["resources"]
    )
    columns = ("agent", "kind", "name", "action", "why left")
    show(table(f"Resources of {args.run_id}", columns, rows))
    return EXIT_OK


def report(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.get(f"runs/{args.run_id}/report")
    if args.format == "json" or args.json:
        print_json(answer)
    else:
        show(*render_report(answer, args.format or "table"))
    return EXIT_OK if ended_well(answer) else EXIT_FAILURE


def cancel(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.post(f"runs/{args.run_id}/cancel")
    if args.json:
        print_json(answer)
    else:
        show(f"Run {answer['run_id']}: {answer['status']} (agents leave monitoring and tear down)")
    return EXIT_OK
