"""`haymaker sweep [--dry-run]`: start an orphan sweep and wait for what it found."""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from typing import Any

from devhost.keys import mask_key
from haymaker.cli.output import EXIT_FAILURE, EXIT_OK, CliError, print_json, show, table
from haymaker.cli.output import status_url as shown_url
from haymaker.cli.target import Target

DONE = ("Completed", "Failed", "Terminated")


def _instance(status_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(status_url, timeout=30) as response:
        return dict(json.load(response))


def sweep(args: argparse.Namespace, target: Target) -> int:
    started = target.api.post("sweeps", {"dry_run": args.dry_run})
    status_url = started["statusQueryGetUri"]
    if not args.json:
        show(f"Sweep {started['id']} started; status: {shown_url(status_url, args.show_keys)}")
    deadline = time.monotonic() + args.timeout
    instance = _instance(status_url)
    while instance.get("runtimeStatus") not in DONE:
        if time.monotonic() > deadline:
            raise CliError(
                f"sweep {started['id']} still {instance.get('runtimeStatus')} after "
                f"{args.timeout:.0f}s: follow it at {mask_key(status_url)}"
            )
        time.sleep(args.interval)
        instance = _instance(status_url)
    output = instance.get("output") or {}
    ok = instance["runtimeStatus"] == "Completed" and not output.get("failed")
    if args.json:
        body = {"id": started["id"], "status": instance["runtimeStatus"], **output}
        print_json({**body, "statusQueryGetUri": status_url}, args.show_keys)
        return EXIT_OK if ok else EXIT_FAILURE
    if instance["runtimeStatus"] != "Completed":
        raise CliError(f"sweep {started['id']} {instance['runtimeStatus']}: {output}")
    if args.dry_run:
        orphans = output.get("orphans", [])
        rows = ((o.get("kind"), o.get("name"), o.get("run")) for o in orphans)
        show(table(f"Dry run: a sweep would remove {len(orphans)}", ("kind", "name", "run"), rows))
    else:
        show(
            f"Sweep {started['id']}: found {output.get('found', 0)}, removed "
            f"{output.get('removed', 0)}, failed {len(output.get('failed', []))}"
        )
    return EXIT_OK if ok else EXIT_FAILURE
