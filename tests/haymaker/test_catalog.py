"""The scenario catalog: the shipped files, run selection, and errors that point at a line."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path

import pytest

from haymaker.catalog import (
    AREAS,
    PLACEHOLDERS,
    Catalog,
    CatalogError,
    LocalKind,
    ResourceRef,
    Scenario,
    Step,
    load_catalog,
    validate_path,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SAMPLE = "security-key-rotation"
PLACEHOLDER_VALUES = {
    "resource_group": "haymaker-1a2b3c4d-a00-sample",
    "prefix": "hm1a2b3c4da00",
    "location": "westeurope",
    "tags": "azurehaymaker-managed=true azurehaymaker-run=run-1 azurehaymaker-agent=a00",
    "run_id": "run-20261126-113000-ab12cd",
    "agent_id": "a00",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SCENARIOS)


def test_the_shipped_catalog_loads_and_covers_every_area(catalog: Catalog) -> None:
    assert len(catalog) >= 10
    assert {scenario.area for scenario in catalog.scenarios()} == set(AREAS)
    assert catalog.validate() == []
    assert validate_path(SCENARIOS) == []


def test_every_shipped_command_renders_into_an_az_invocation(catalog: Catalog) -> None:
    assert set(PLACEHOLDERS) == set(PLACEHOLDER_VALUES)
    for scenario in catalog.scenarios():
        for steps in scenario.phases().values():
            for step in steps:
                argv = shlex.split(step.command.format(**PLACEHOLDER_VALUES))
                assert argv[0] == "az", (scenario.id, step.name)
                assert "{" not in " ".join(argv[:3]), (scenario.id, step.name)


def test_every_resource_has_a_local_stand_in(catalog: Catalog) -> None:
    for scenario in catalog.scenarios():
        for ref in scenario.resources:
            assert ref.local_kind in set(LocalKind), (scenario.id, ref)


def test_scenarios_survive_a_json_round_trip(catalog: Catalog) -> None:
    for scenario in catalog.scenarios():
        data = json.loads(json.dumps(scenario.to_dict()))
        assert Scenario.from_dict(data) == scenario
    first = catalog.scenarios()[0].to_dict()
    assert first["resources"][0]["local_kind"] in {"blob_container", "table", "queue"}


def test_selection_is_the_same_for_the_same_run_id(catalog: Catalog) -> None:
    first = [s.id for s in catalog.select(5, seed="run-20261126-113000-ab12cd")]
    again = [s.id for s in catalog.select(5, seed="run-20261126-113000-ab12cd")]
    assert first == again


def test_selection_differs_across_run_ids(catalog: Catalog) -> None:
    picks = {
        tuple(s.id for s in catalog.select(5, seed=f"run-20261126-0{hour}0000-ab12cd"))
        for hour in range(4)
    }
    assert len(picks) == 4


def test_a_small_run_spans_distinct_areas(catalog: Catalog) -> None:
    for seed in ("run-a", "run-b", "run-c"):
        areas = [s.area for s in catalog.select(len(AREAS), seed=seed)]
        assert sorted(areas) == sorted(AREAS)


def test_a_run_larger_than_the_catalog_repeats_scenarios_evenly(catalog: Catalog) -> None:
    picked = catalog.select(30, seed="run-large")
    assert len(picked) == 30
    counts = Counter(s.id for s in picked)
    assert set(counts) == set(catalog.ids())
    assert max(counts.values()) - min(counts.values()) <= 1


def test_selecting_nothing_is_refused(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        catalog.select(0, seed="run-a")


def test_an_unknown_id_names_it_and_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as caught:
        catalog.get("mainframe-batch")
    assert "'mainframe-batch'" in str(caught.value)
    assert all(scenario_id in str(caught.value) for scenario_id in catalog.ids())


def line_of(text: str, needle: str) -> int:
    """The 1-based line on which ``needle`` first appears."""
    return text[: text.index(needle)].count("\n") + 1


def write_broken(
    directory: Path, old: str, new: str, stem: str = SAMPLE, count: int = 1
) -> tuple[Path, str]:
    """A copy of the sample scenario with ``old`` replaced, in ``directory``."""
    original = (SCENARIOS / f"{SAMPLE}.yaml").read_text()
    assert old in original
    text = original.replace(old, new, count)
    path = directory / f"{stem}.yaml"
    path.write_text(text)
    return path, text


@pytest.mark.parametrize(
    ("old", "new", "marker", "reason"),
    [
        ("area: security", "area: security\nowner: secops", "owner:", "unknown key 'owner'"),
        ("area: security", "area: [security]", "area:", "expected text; got a list"),
        ("area: security", "area: iot", "area:", "unknown area 'iot'; known: ai-ml"),
        ("area: security", "area: security\narea: security", "area: security\narea", ""),
        (
            "--kty RSA",
            "--kty {key_type}",
            "Create the signing key\n    command",
            "unknown placeholder {key_type}",
        ),
        ("--size 2048", "--size {2048", "Create the signing key\n    command", "malformed braces"),
        ("duration_hint: PT30M", "duration_hint: 30 minutes", "duration_hint", "PT8H"),
        ("name: signing-key}\noperate", "name: yes}\noperate", "name: yes", "got true/false"),
        (
            'uses: {kind: key_vault, name: "{prefix}kv"}',
            'uses: {kind: key_vault, name: "{prefix}vault"}',
            "{prefix}vault",
            "key_vault '{prefix}vault' is not declared under resources",
        ),
        (
            "--retention-days 7\n      --tags {tags}",
            "--retention-days 7",
            "Create the RBAC-mode Key Vault\n    command",
            "must pass --tags {tags}",
        ),
        (
            "  - name: Rotate the signing key",
            "  - name: Rotate: the key",
            "Rotate:",
            "invalid YAML",
        ),
        (
            '- {kind: key_vault, name: "{prefix}kv"}',
            "- {kind: key_vault, name: {prefix}kv}",
            "name: {prefix}kv}",
            "quote values",
        ),
    ],
)
def test_a_broken_scenario_reports_file_line_and_reason(
    tmp_path: Path, old: str, new: str, marker: str, reason: str
) -> None:
    path, text = write_broken(tmp_path, old, new)
    problems = validate_path(path)
    assert len(problems) == 1, problems
    expected_line = line_of(text, marker) + marker.count("\n")
    assert problems[0].startswith(f"{path}:{expected_line}: "), problems
    assert reason in problems[0]


def test_an_unknown_resource_kind_is_refused(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "kind: key_vault_key", "kind: hsm_key", count=-1)
    problems = validate_path(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line_of(text, 'hsm_key')}: unknown resource kind")


def test_a_missing_key_is_reported_at_the_mapping(tmp_path: Path) -> None:
    path, _ = write_broken(tmp_path, "title: Signing-key rotation in Azure Key Vault\n", "")
    assert validate_path(path) == [f"{path}:1: missing key 'title'"]


def test_the_id_must_match_the_file_name(tmp_path: Path) -> None:
    path, _ = write_broken(tmp_path, "area: security", "area: security", stem="key-rotation")
    assert validate_path(path) == [
        f"{path}:1: id '{SAMPLE}' must equal the file stem 'key-rotation'"
    ]


def test_an_empty_phase_is_refused(tmp_path: Path) -> None:
    original = (SCENARIOS / f"{SAMPLE}.yaml").read_text()
    operate = original[original.index("operate:") : original.index("cleanup:")]
    path, text = write_broken(tmp_path, operate, "operate: []\n")
    line = line_of(text, "operate: []")
    assert validate_path(path) == [
        f"{path}:{line}: operate has no steps; every phase needs at least one"
    ]


def test_operate_steps_must_say_what_they_work_on(tmp_path: Path) -> None:
    old = '    uses: {kind: key_vault, name: "{prefix}kv"}\n'
    path, text = write_broken(tmp_path, old, "")
    step_line = line_of(text, "  - name: Record when the last audit ran")
    assert validate_path(path) == [
        f"{path}:{step_line}: operate steps need 'uses' naming the resource they work on"
    ]


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    original, _ = write_broken(tmp_path, "area: security", "area: security")
    twin = tmp_path / f"{SAMPLE}.yml"
    twin.write_text(original.read_text())
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    assert caught.value.problems == [f"{twin}:1: duplicate id '{SAMPLE}' (also in {original})"]


def test_loading_a_folder_reports_every_broken_file_at_once(tmp_path: Path) -> None:
    for scenario_file in SCENARIOS.glob("*.yaml"):
        (tmp_path / scenario_file.name).write_text(scenario_file.read_text())
    (tmp_path / "compute-linux-vm.yaml").write_text("id: compute-linux-vm\n")
    (tmp_path / f"{SAMPLE}.yaml").write_text("- not a mapping\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog(tmp_path)
    files = {problem.split(":", 1)[0] for problem in caught.value.problems}
    assert files == {str(tmp_path / "compute-linux-vm.yaml"), str(tmp_path / f"{SAMPLE}.yaml")}
    assert validate_path(tmp_path) == caught.value.problems


def test_a_folder_without_scenarios_is_reported(tmp_path: Path) -> None:
    assert validate_path(tmp_path) == [f"{tmp_path}: no scenario files (*.yaml)"]
    assert validate_path(tmp_path / "missing") == [f"{tmp_path / 'missing'}: not a directory"]


def test_validate_checks_scenarios_built_in_code() -> None:
    vault = ResourceRef("key_vault", "shared-vault")
    scenario = Scenario(
        id="adhoc",
        title="Ad hoc",
        area="quantum",
        description="Built without a file.",
        resources=(vault,),
        deploy=(Step("Create", "az keyvault create --name shared-vault", creates=vault),),
        operate=(),
        cleanup=(Step("Delete", "az keyvault delete --name shared-vault", deletes=vault),),
    )
    assert Catalog([scenario]).validate() == [
        "adhoc: area: unknown area 'quantum'; known: " + ", ".join(AREAS),
        "adhoc: resources[0].name: key_vault names must include {prefix} to stay unique",
        "adhoc: deploy[0].command: must pass --tags {tags} so sweeps can find what it creates",
        "adhoc: operate: operate has no steps; every phase needs at least one",
    ]
