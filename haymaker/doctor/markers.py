"""Group 1: merge-conflict markers anywhere in the deployable tree.

The upstream team's container sat in "NotRunning" because a half-resolved merge left an
`app = None` path in the package. Markers that survive into Python are syntax errors,
but in JSON, YAML or Bicep they can deploy as data. `=======` alone is also a heading
underline in Markdown and reStructuredText, so there it counts only between the others.
"""

from __future__ import annotations

import re
from pathlib import Path

from haymaker.doctor.findings import Finding, failed, listing, passed
from haymaker.doctor.tree import deployable_files

MARKER = re.compile(r"^(<{7}|\|{7}|>{7})(?: |$)|^={7}$")
PROSE = (".md", ".rst")


def marker_lines(text: str, prose: bool) -> list[int]:
    """Line numbers of conflict markers in `text`."""
    hits: list[int] = []
    open_conflict = False
    for number, line in enumerate(text.splitlines(), start=1):
        match = MARKER.match(line.rstrip("\r"))
        if not match:
            continue
        opening = line.startswith("<" * 7)
        closing = line.startswith(">" * 7)
        separator = match.group(1) is None
        if separator and prose and not open_conflict:
            continue
        open_conflict = (open_conflict or opening) and not closing
        hits.append(number)
    return hits


def check_merge_markers(app_dir: Path) -> Finding:
    name = "merge markers"
    files = deployable_files(app_dir)
    found = []
    for relative in files:
        data = (app_dir / relative).read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        lines = marker_lines(data.decode("utf-8", errors="replace"), relative.suffix in PROSE)
        if lines:
            found.append(f"{relative}:{','.join(map(str, lines[:5]))}")
    if found:
        return failed(
            name,
            f"merge-conflict markers in {len(found)} file(s): {listing(found)}",
            "resolve the conflicts (keep one side, delete the <<<<<<< ======= >>>>>>> lines)",
        )
    return passed(name, f"none in the {len(files)} files of the deployable tree")
