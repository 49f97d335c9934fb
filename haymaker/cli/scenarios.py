"""`haymaker scenarios list|show|validate`: the catalog the API serves, and local checks."""

from __future__ import annotations

import argparse
from pathlib import Path

from haymaker.catalog import validate_path
from haymaker.cli.output import EXIT_FAILURE, EXIT_OK, CliError, print_json, show, table
from haymaker.cli.target import Target
from haymaker.suggest import did_you_mean


def list_scenarios(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.get("scenarios")
    if args.json:
        print_json(answer)
        return EXIT_OK
    rows = ((s["id"], s["area"], s["title"]) for s in answer["scenarios"])
    show(table(f"{len(answer['scenarios'])} scenarios", ("id", "area", "title"), rows))
    return EXIT_OK


def show_scenario(args: argparse.Namespace, target: Target) -> int:
    scenarios = target.api.get("scenarios")["scenarios"]
    found = next((s for s in scenarios if s["id"] == args.scenario_id), None)
    if found is None:
        hint = did_you_mean(args.scenario_id, [s["id"] for s in scenarios])
        raise CliError(
            f"no scenario {args.scenario_id!r} in the catalog{hint}: `haymaker scenarios list` "
            "shows the ids"
        )
    if args.json:
        print_json(found)
    else:
        show(f"{found['id']} ({found['area']}): {found['title']}", "", found["description"])
    return EXIT_OK


def validate(args: argparse.Namespace, target: Target | None = None) -> int:
    path = Path(args.path)
    if not path.exists():
        raise CliError(f"{path} does not exist: pass a scenario file or the scenarios folder")
    problems = validate_path(path)
    if args.json:
        print_json({"path": str(path), "ok": not problems, "problems": problems})
    elif problems:
        show(f"{len(problems)} problem(s) in {path}:", *(f"  {p}" for p in problems))
    else:
        show(f"{path}: valid")
    return EXIT_FAILURE if problems else EXIT_OK
