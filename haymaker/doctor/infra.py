"""Group 5: infrastructure, checked by haymaker/infra_checks.py (the infra's own module).

Workload profile capacity for blue-green revisions, immutable image references, and
identity-based storage settings are facts about infra/; the module that owns infra/
knows how to read them. Missing that module is a failure, never a silent pass.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from haymaker.doctor.findings import Finding, failed

INFRA_MODULE = "haymaker.infra_checks"


def check_infra(app_dir: Path) -> list[Finding]:
    try:
        module = importlib.import_module(INFRA_MODULE)
    except ModuleNotFoundError as error:
        if error.name != INFRA_MODULE:
            raise
        return [
            failed(
                "infra",
                "infra checks unavailable: haymaker/infra_checks.py missing",
                "add haymaker/infra_checks.py (issue 6) so workload profile capacity, image "
                "tags and storage identity settings are checked",
            )
        ]
    results = module.check_infra(app_dir)
    return [
        Finding(
            check=f"infra: {result['check']}",
            ok=bool(result["ok"]),
            message=str(result["message"]),
            fix="" if result["ok"] else str(result.get("fix", "")),
        )
        for result in results
    ]
