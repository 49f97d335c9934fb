"""A closed pipe (`haymaker ... | head -1`) discards the rest of the output and changes
nothing else: the exit code is the command's own, and stderr stays empty. A `set -o
pipefail` script trusts that code (a start reported failed would be started again)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import into_closed_pipe


def test_help_into_a_closed_pipe_exits_0_quietly():
    result = into_closed_pipe("run", "start", "--help")
    assert (result.returncode, result.stderr) == (0, "")


def test_a_doctor_that_passes_exits_0_and_one_that_fails_exits_1(app_copy: Path):
    passed = into_closed_pipe("doctor", str(app_copy))
    assert (passed.returncode, passed.stderr) == (0, "")
    (app_copy / "host.json").write_text("{")
    failed = into_closed_pipe("doctor", str(app_copy))
    assert (failed.returncode, failed.stderr) == (1, "")
    as_json = into_closed_pipe("doctor", str(app_copy), "--json")
    assert (as_json.returncode, as_json.stderr) == (1, "")
