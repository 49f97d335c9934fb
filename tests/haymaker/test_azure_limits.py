"""Names and values Azure refuses though the Azure CLI's parser takes them: the catalog's
check catches each, naming the file (the scenario), the step and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from haymaker.azure_limits import LONGEST_PLACEHOLDERS, NAME_RULES
from haymaker.catalog import load_catalog, validate_path
from haymaker.catalog_rules import SAMPLE_PLACEHOLDERS
from haymaker.resource_kinds import RESOURCE_KINDS

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def variant(directory: Path, scenario_id: str, old: str, new: str) -> tuple[Path, str]:
    """A catalog scenario with every `old` replaced by `new`."""
    text = (SCENARIOS / f"{scenario_id}.yaml").read_text()
    assert old in text, old
    text = text.replace(old, new)
    path = directory / f"{scenario_id}.yaml"
    path.write_text(text)
    return path, text


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_every_resource_kind_has_azures_naming_rule() -> None:
    assert set(NAME_RULES) == set(RESOURCE_KINDS)


def test_names_are_checked_with_every_placeholder_at_its_longest() -> None:
    assert set(LONGEST_PLACEHOLDERS) == set(SAMPLE_PLACEHOLDERS)
    for name, longest in LONGEST_PLACEHOLDERS.items():
        assert len(longest) >= len(SAMPLE_PLACEHOLDERS[name]), name
    # Agent a49, the last of the largest run, has the longest prefix.
    assert LONGEST_PLACEHOLDERS["prefix"].endswith("a49")


def test_the_shipped_catalog_keeps_to_azures_names_and_ranges() -> None:
    catalog = load_catalog(SCENARIOS)
    assert catalog.broken == {}
    assert catalog.validate() == []


@pytest.mark.parametrize(
    ("scenario_id", "old", "new", "step", "rule"),
    [
        (
            "security-key-rotation",
            "{prefix}kvevents",
            "{prefix}Bad_Name-Too-Long-For-Storage-xx",
            "deploy[3].creates: step 'Create the events storage account': storage_account name",
            "(3-24 characters, lowercase letters and digits): has 45 characters; has '-' 'B'",
        ),
        (
            "security-certificate-renewal",
            "{prefix}certs",
            "{prefix}-vault-of-the-payments-team",
            "deploy[0].creates: step 'Create the certificate vault': key_vault name",
            "(3-24 characters, letters, digits and hyphens, starting with [a-zA-Z], ending "
            "with [a-zA-Z0-9], no '--'): has 40 characters",
        ),
        (
            "security-certificate-renewal",
            "{prefix}certs",
            "{prefix}--certs",
            "deploy[0].creates: step 'Create the certificate vault': key_vault name",
            "has '--'",
        ),
        (
            "security-storage-hardening",
            "litigation",
            "Litigation_Hold",
            "deploy[4].creates: step 'Create the Litigation_Hold container': blob_container name",
            "(3-63 characters, lowercase letters, digits and hyphens, starting with [a-z0-9], "
            "ending with [a-z0-9], no '--'): has 'H' 'L' '_'",
        ),
        (
            "containers-web-api",
            "{prefix}acr",
            "{prefix}-acr",
            "deploy[1].creates: step 'Create the Basic registry': container_registry name",
            "(5-50 characters, letters and digits): has '-'",
        ),
        (
            "containers-web-api",
            "{prefix}-api-logs",
            "{prefix}-api-logs-",
            "deploy[0].creates: step 'Create the log workspace': log_analytics_workspace name",
            "ends with '-'",
        ),
        (
            "containers-nightly-jobs",
            "{prefix}-rerun-day",
            "{prefix}-rerun-yesterdays-day",
            "deploy[6].creates: step 'Create the manual re-run job': container_app_job name",
            "(2-32 characters, lowercase letters, digits and hyphens, starting with [a-z], "
            "ending with [a-z0-9], no '--'): has 34 characters",
        ),
    ],
)
def test_a_name_azure_refuses_names_the_step_and_the_rule(
    tmp_path: Path, scenario_id: str, old: str, new: str, step: str, rule: str
) -> None:
    path, text = variant(tmp_path, scenario_id, old, new)
    problems = [p for p in validate_path(path) if "naming rule" in p]
    assert len(problems) == 1, problems
    line = next(
        number
        for number, content in enumerate(text.splitlines(), 1)
        if content.strip().startswith("creates:") and new in content
    )
    assert problems[0].startswith(f"{path}:{line}: {step} '{new}'"), problems
    assert rule in problems[0]


def test_a_name_that_fits_the_sample_agent_but_not_the_last_one_is_refused(
    tmp_path: Path,
) -> None:
    """24 characters with the sample's prefix; agent a49's prefix is no shorter, and the
    longest round counts: a name is checked as the longest agent would fill it."""
    room = 24 - len(LONGEST_PLACEHOLDERS["prefix"])
    path, _ = variant(
        tmp_path, "security-key-rotation", "{prefix}kvevents", "{prefix}" + "k" * room
    )
    assert validate_path(path) == []
    path, _ = variant(
        tmp_path, "security-key-rotation", "{prefix}kvevents", "{prefix}" + "k" * (room + 1)
    )
    assert "has 25 characters" in " ".join(validate_path(path))


@pytest.mark.parametrize(
    ("scenario_id", "old", "new", "marker", "reason"),
    [
        (
            "security-key-rotation",
            "--retention-days 7",
            "--retention-days 3",
            "--retention-days 3",
            "deploy[0].command: step 'Create the RBAC-mode Key Vault': --retention-days 3 is "
            "outside 7-90 (days of soft delete) that az keyvault create accepts",
        ),
        (
            "analytics-log-workbench",
            "--retention-time 3{n}",
            "--retention-time 3",
            "--retention-time 3\n",
            "--retention-time 3 is outside 30-730 (days of retention (pay-as-you-go)) that az "
            "monitor log-analytics workspace update accepts",
        ),
        (
            "compute-linux-vm",
            "--size Standard_B1s",
            "--size Standard_Nonexistent",
            "Standard_Nonexistent",
            "--size Standard_Nonexistent is not on the allowlist of cheap SKUs",
        ),
        (
            "containers-web-api",
            "--logs-destination azure-monitor",
            "--logs-workspace-id {prefix}-api-logs",
            "--logs-workspace-id",
            "--logs-workspace-id hm1a2b3c4da00-api-logs is not the workspace's customer id "
            "(a GUID)",
        ),
    ],
)
def test_a_value_azure_refuses_names_the_step_and_the_range(
    tmp_path: Path, scenario_id: str, old: str, new: str, marker: str, reason: str
) -> None:
    path, text = variant(tmp_path, scenario_id, old, new)
    problems = validate_path(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line_of(text, marker)}: "), problems
    assert reason in problems[0]
