"""`haymaker doctor [APP_DIR]`: one line per check, with the fix; exit 1 on any failure."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.text import Text

from haymaker.cli.output import EXIT_FAILURE, EXIT_OK, CliError, console, print_json
from haymaker.doctor import run_doctor


def doctor(args: argparse.Namespace) -> int:
    app_dir = Path(args.app_dir)
    if not app_dir.is_dir():
        raise CliError(f"{app_dir} is not a folder: pass the app folder (with function_app.py)")
    if not (app_dir / "function_app.py").is_file():
        raise CliError(f"{app_dir} has no function_app.py: pass the app folder")
    findings = run_doctor(app_dir)
    failures = [f for f in findings if not f.ok]
    if args.json:
        print_json(
            {
                "app_dir": str(app_dir.resolve()),
                "ok": not failures,
                "checks": [f.to_dict() for f in findings],
            }
        )
        return EXIT_FAILURE if failures else EXIT_OK
    out = console()
    for finding in findings:
        line = Text()
        line.append("PASS " if finding.ok else "FAIL ", style="green" if finding.ok else "bold red")
        line.append(f"{finding.check}: {finding.message}")
        if not finding.ok:
            line.append(f"  -> fix: {finding.fix}", style="yellow")
        out.print(line)
    verdict = f"{len(failures)} of {len(findings)} checks failed" if failures else "ready to deploy"
    out.print(Text(f"doctor: {verdict}", style="bold"))
    return EXIT_FAILURE if failures else EXIT_OK
