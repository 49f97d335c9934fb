"""`haymaker scenarios list|show|validate`: the catalog the API serves, and local checks."""

from __future__ import annotations

import argparse
import urllib.parse
from pathlib import Path
from typing import Any

from haymaker.azcli_check import AzureCliCheckError, check_with_azure_cli
from haymaker.catalog import validate_path
from haymaker.cli.output import EXIT_FAILURE, EXIT_OK, CliError, print_json, show, table
from haymaker.cli.target import Target


def list_scenarios(args: argparse.Namespace, target: Target) -> int:
    answer = target.api.get("scenarios")
    if args.json:
        print_json(answer)
        return EXIT_OK
    scenarios = answer["scenarios"]
    rows = (
        (
            s["id"],
            s["area"],
            f"${s['cost_per_hour_usd']:.2f}",
            s["resources"],
            s["deploy_steps"],
            s["operate_actions"],
            s["title"],
        )
        for s in scenarios
    )
    columns = ("id", "area", "per hour", "resources", "deploy", "operate", "title")
    parts: list[Any] = [table(f"{len(scenarios)} scenarios", columns, rows)]
    for broken in answer.get("broken", []):
        parts.append(f"not loaded: {broken['id']}: {'; '.join(broken['problems'])}")
    show(*parts)
    return EXIT_OK


def show_scenario(args: argparse.Namespace, target: Target) -> int:
    # An unknown id is the API's 404, whose message lists the known ids.
    found = target.api.get(f"scenarios/{urllib.parse.quote(args.scenario_id, safe='')}")
    if args.json:
        print_json(found)
        return EXIT_OK
    show(*scenario_view(found))
    return EXIT_OK


def scenario_view(scenario: dict[str, Any]) -> list[Any]:
    """A scenario as people read it: what it is, what it costs, and every step."""
    header = (
        f"{scenario['id']} ({scenario['area']}): {scenario['title']}\n"
        f"estimated cost: ${scenario['cost_per_hour_usd']:.2f} per hour while it runs\n\n"
        f"{scenario['description'].strip()}"
    )
    resources = table(
        "Resources",
        ("kind", "name"),
        ((r["kind"], r["name"]) for r in scenario["resources"]),
    )
    parts: list[Any] = [header, resources]
    total = sum(step.get("weight", 0) for step in scenario["operate"]) or 1
    for phase in ("deploy", "operate", "cleanup"):
        columns = ("#", "step", "command") if phase != "operate" else ("#", "weight", "step")
        rows = []
        for index, step in enumerate(scenario[phase], 1):
            if phase == "operate":
                share = f"{step['weight']} ({100 * step['weight'] / total:.0f}%)"
                rows.append((index, share, f"{step['name']}\n  {step['command']}"))
            else:
                rows.append((index, step["name"], step["command"]))
        parts.append(table(phase.capitalize(), columns, rows))
    return parts


def validate(args: argparse.Namespace, target: Target | None = None) -> int:
    path = Path(args.path)
    if not path.exists():
        raise CliError(f"{path} does not exist: pass a scenario file or the scenarios folder")
    problems = validate_path(path)
    try:
        cli = check_with_azure_cli(path)
    except AzureCliCheckError as error:
        raise CliError(str(error)) from None
    problems += cli.problems
    if cli.skipped:
        cli_line = f"Azure CLI check skipped: {cli.skipped}"
    else:
        cli_line = f"Azure CLI check: {cli.commands} commands parsed by the CLI's own parser"
    if args.json:
        azure_cli = {"checked": cli.commands, "skipped": cli.skipped}
        print_json(
            {"path": str(path), "ok": not problems, "problems": problems, "azure_cli": azure_cli}
        )
    elif problems:
        show(f"{len(problems)} problem(s) in {path}:", *(f"  {p}" for p in problems), cli_line)
    else:
        show(f"{path}: valid", cli_line)
    return EXIT_FAILURE if problems else EXIT_OK
