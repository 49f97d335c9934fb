"""The scenario catalog: the shipped files, run selection, and errors that point at a line."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path

import pytest

import haymaker.catalog as catalog_module
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
from haymaker.catalog_checks import scenario_problems
from haymaker.catalog_rules import SAMPLE_PLACEHOLDERS
from haymaker.scenario import PER_ACTION_PLACEHOLDERS

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SAMPLE = "security-key-rotation"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SCENARIOS)


def test_the_shipped_catalog_has_fifty_scenarios_five_per_area(catalog: Catalog) -> None:
    assert len(catalog) >= 50
    per_area = Counter(scenario.area for scenario in catalog.scenarios())
    assert set(per_area) == set(AREAS)
    assert min(per_area.values()) >= 5, per_area
    assert catalog.broken == {}
    assert catalog.validate() == []
    assert validate_path(SCENARIOS) == []


def test_every_scenario_is_deep_and_the_catalog_deeper_on_average(catalog: Catalog) -> None:
    depths = {scenario.id: scenario.depth() for scenario in catalog.scenarios()}
    for scenario_id, depth in depths.items():
        assert depth["resources"] >= 4, scenario_id
        assert depth["deploy_steps"] >= 4, scenario_id
        assert depth["operate_actions"] >= 8, scenario_id
    assert sum(d["deploy_steps"] for d in depths.values()) / len(depths) >= 6
    assert sum(d["operate_actions"] for d in depths.values()) / len(depths) >= 10


def test_cleanup_deletes_every_resource_each_scenario_creates(catalog: Catalog) -> None:
    for scenario in catalog.scenarios():
        created = {step.creates for step in scenario.deploy if step.creates}
        deleted = {step.deletes for step in scenario.cleanup if step.deletes}
        assert created == deleted == set(scenario.resources), scenario.id


def test_no_two_scenarios_are_near_copies(catalog: Catalog) -> None:
    """Two scenarios sharing most of their command groups would be the same workload."""

    def groups(scenario: Scenario) -> set[str]:
        return {
            " ".join(word for word in step.command.split()[1:4] if not word.startswith("-"))
            for steps in scenario.phases().values()
            for step in steps
        }

    scenarios = catalog.scenarios()
    for index, first in enumerate(scenarios):
        for second in scenarios[index + 1 :]:
            a, b = groups(first), groups(second)
            overlap = len(a & b) / len(a | b)
            assert overlap < 0.8, (first.id, second.id, round(overlap, 2))


def test_every_shipped_command_renders_into_an_az_invocation(catalog: Catalog) -> None:
    assert set(PLACEHOLDERS) == set(SAMPLE_PLACEHOLDERS)
    for scenario in catalog.scenarios():
        for steps in scenario.phases().values():
            for step in steps:
                argv = shlex.split(step.command.format(**SAMPLE_PLACEHOLDERS))
                assert argv[0] == "az", (scenario.id, step.name)
                assert "{" not in " ".join(argv[:3]), (scenario.id, step.name)


def test_operate_writes_change_from_round_to_round(catalog: Catalog) -> None:
    """A tenant where every round writes the same values to the same names looks like a
    replayed script: operate commands take {round}, {stamp} or {n}, never a run-long
    constant such as {run_id} for what they write."""
    varying = {
        scenario.id: sum(
            any(f"{{{name}}}" in step.command for name in PER_ACTION_PLACEHOLDERS)
            for step in scenario.operate
        )
        for scenario in catalog.scenarios()
    }
    assert sum(count >= 1 for count in varying.values()) >= 0.8 * len(varying), varying
    assert sum(count >= 2 for count in varying.values()) >= 0.45 * len(varying), varying
    for scenario in catalog.scenarios():
        for step in scenario.operate:
            assert "{run_id}" not in step.command, (scenario.id, step.name)


def test_every_resource_has_a_local_stand_in(catalog: Catalog) -> None:
    for scenario in catalog.scenarios():
        for ref in scenario.resources:
            assert ref.local_kind in set(LocalKind), (scenario.id, ref)


def test_scenarios_survive_a_json_round_trip(catalog: Catalog) -> None:
    for scenario in catalog.scenarios():
        data = json.loads(json.dumps(scenario.to_dict()))
        assert Scenario.from_dict(data) == scenario
    first = catalog.get(SAMPLE).to_dict()
    assert first["resources"][0]["local_kind"] in {"blob_container", "table", "queue"}
    assert first["cost_per_hour_usd"] == 0.01
    assert all(isinstance(step["weight"], int) for step in first["operate"])


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
    count = len(catalog) * 2 + 3
    picked = catalog.select(count, seed="run-large")
    assert len(picked) == count
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


VAULT_CREATE = "--enable-rbac-authorization true --retention-days 7 --tags {tags}"
ROTATE = "    command: az keyvault key rotate --vault-name {prefix}kv --name signing-key\n"


@pytest.mark.parametrize(
    ("old", "new", "marker", "reason"),
    [
        ("area: security", "area: security\nowner: secops", "owner:", "unknown key 'owner'"),
        ("area: security", "area: [security]", "area:", "area: expected text; got a list"),
        ("area: security", "area: iot", "area:", "area: unknown area 'iot'; known: ai-ml"),
        ("area: security", "area: security\narea: security", "area: security\narea", ""),
        (
            "--kty RSA",
            "--kty {key_type}",
            "--kty {key_type}",
            "unknown placeholder",
        ),
        ("--size 2048", "--size {2048", "--size {2048", "malformed braces"),
        (
            "--kty RSA",
            "--kty RSA-{stamp}",
            "--kty RSA-{stamp}",
            "deploy[1].command: {stamp} changes with every operate action: deploy steps "
            "cannot use it (only operate commands can)",
        ),
        ("duration_hint: PT2H", "duration_hint: 2 hours", "duration_hint", "PT8H"),
        ("cost_per_hour_usd: 0.01", "cost_per_hour_usd: cheap", "cost_per_hour_usd", "a number"),
        ("cost_per_hour_usd: 0.01", "cost_per_hour_usd: 0", "cost_per_hour_usd", "more than 0"),
        ("cost_per_hour_usd: 0.01", "cost_per_hour_usd: 9.5", "cost_per_hour_usd", "at most 2.0"),
        (
            "name: signing-key}\n  - {kind: storage_account",
            "name: yes}\n  - {kind: storage_account",
            "name: yes",
            "got true/false",
        ),
        (
            '    uses: "{prefix}kv"\n',
            '    uses: "{prefix}vault"\n',
            'uses: "{prefix}vault"',
            "operate[8].uses: no resource named '{prefix}vault' is declared",
        ),
        (
            f"{VAULT_CREATE}\n",
            "--enable-rbac-authorization true --retention-days 7\n",
            "--retention-days 7",
            "deploy[0].command: must pass --tags {tags}, or say why it cannot with 'untagged'",
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
        # Guardrails: where commands act, what they may cost, how they are tagged.
        (
            "--sku Standard_LRS --tags {tags}",
            "--sku Premium_ZRS --tags {tags}",
            "Premium_ZRS",
            "--sku Premium_ZRS is not on the allowlist of cheap SKUs",
        ),
        (
            "--name {prefix}kv --resource-group {resource_group} --location",
            "--name {prefix}kv --resource-group shared-rg --location",
            "shared-rg",
            "--resource-group must be {resource_group}, got 'shared-rg'",
        ),
        (
            ROTATE,
            "    command: az keyvault key rotate --vault-name {prefix}kv -n k --subscription x\n",
            "--subscription x",
            "--subscription is not allowed",
        ),
        (
            "    untagged: a queue takes metadata, not tags; it lives in the tagged account\n",
            "",
            "--name key-events --account-name",
            "deploy[4].command: must pass --tags {tags}, or say why it cannot with 'untagged'",
        ),
        (
            "    creates: signing-key\n",
            "    creates: signing-key\n    untagged: keys cannot be tagged\n",
            "untagged: keys",
            "untagged: only for create steps that cannot pass --tags",
        ),
        (
            "    uses: signing-key\n    weight: 1\n",
            "    uses: signing-key\n",
            "  - name: Rotate the signing key",
            "operate steps need a 'weight'",
        ),
        (
            "    uses: signing-key\n    weight: 1\n",
            "    uses: signing-key\n    weight: 0\n",
            "weight: 0",
            "weight: must be 1-100, got 0",
        ),
        (
            "    uses: signing-key\n    weight: 1\n",
            "    uses: signing-key\n    weight: 40\n",
            "operate:\n  - name",
            "operate: reads weigh 21 and writes 41: reads must outweigh writes",
        ),
    ],
)
def test_a_broken_scenario_reports_file_line_and_reason(
    tmp_path: Path, old: str, new: str, marker: str, reason: str
) -> None:
    path, text = write_broken(tmp_path, old, new)
    problems = validate_path(path)
    assert len(problems) == 1, problems
    expected_line = line_of(text, marker) + marker.count("\n") - marker.startswith("\n")
    assert problems[0].startswith(f"{path}:{expected_line}: "), problems
    assert reason in problems[0]


def test_a_resource_name_cannot_change_from_round_to_round(tmp_path: Path) -> None:
    """Cleanup must find a resource by the name deploy gave it."""
    text = (SCENARIOS / f"{SAMPLE}.yaml").read_text()
    for effect in ("creates", "uses", "deletes"):
        text = text.replace(f"{effect}: signing-key\n", f'{effect}: "signing-key-{{round}}"\n')
    old = "- {kind: key_vault_key, name: signing-key}"
    text = text.replace(old, '- {kind: key_vault_key, name: "signing-key-{round}"}')
    path = tmp_path / f"{SAMPLE}.yaml"
    path.write_text(text)
    assert (
        f"{path}:{line_of(text, 'signing-key-{round}')}: resources[1].name: {{round}} changes "
        "with every operate action: a resource's name cannot use it (only operate commands can)"
    ) in validate_path(path)


def test_directory_and_subscription_commands_are_refused(tmp_path: Path) -> None:
    command = "    command: az role assignment list --scope /subscriptions/0000\n"
    path, text = write_broken(tmp_path, ROTATE, command)
    line = line_of(text, "az role assignment")
    assert validate_path(path) == [
        f"{path}:{line}: operate[0].command: 'az role' acts outside the agent's resource group; "
        "scenarios may not use it",
        f"{path}:{line}: operate[0].command: --scope must point inside {{resource_group}}, got "
        "'/subscriptions/0000'",
        f"{path}:{line}: operate[0].command: must name {{resource_group}} or a resource of the "
        "scenario ({prefix}...), so it cannot act on anything else",
    ]


def test_an_unknown_resource_kind_is_refused(tmp_path: Path) -> None:
    path, text = write_broken(tmp_path, "kind: key_vault_key", "kind: hsm_key", count=-1)
    problems = validate_path(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:{line_of(text, 'hsm_key')}: resources[1].kind: unknown")


def test_a_missing_key_is_reported_at_the_mapping(tmp_path: Path) -> None:
    old = "title: Signing-key rotation in Key Vault with an event subscription\n"
    path, _ = write_broken(tmp_path, old, "")
    assert validate_path(path) == [f"{path}:1: missing key 'title'"]


def test_the_id_must_match_the_file_name(tmp_path: Path) -> None:
    path, _ = write_broken(tmp_path, "area: security", "area: security", stem="key-rotation")
    assert validate_path(path) == [
        f"{path}:1: id: id '{SAMPLE}' must equal the file stem 'key-rotation'"
    ]


def test_a_shallow_scenario_is_refused(tmp_path: Path) -> None:
    original = (SCENARIOS / f"{SAMPLE}.yaml").read_text()
    operate = original[original.index("operate:") : original.index("cleanup:")]
    kept = operate[: operate.index("  - name: Read the rotation policy")]
    path, text = write_broken(tmp_path, operate, kept)
    line = line_of(text, "operate:") + 1  # where the list starts
    assert validate_path(path) == [
        f"{path}:{line}: operate: has 2 operate actions; a scenario needs at least 8"
    ]


def test_every_created_resource_must_be_deleted_in_cleanup(tmp_path: Path) -> None:
    old = (
        "  - name: Delete the key-events queue\n"
        "    command: az storage queue delete --name key-events --account-name {prefix}kvevents\n"
        "    deletes: key-events\n"
    )
    path, text = write_broken(tmp_path, old, "")
    line = line_of(text, "  - {kind: storage_queue, name: key-events}")
    assert validate_path(path) == [
        f"{path}:{line}: resources[3]: storage_queue 'key-events' is never deleted in cleanup"
    ]


def test_operate_steps_must_say_what_they_work_on(tmp_path: Path) -> None:
    old = '    uses: "{prefix}kv"\n'
    path, text = write_broken(tmp_path, old, "")
    step_line = line_of(text, "  - name: Check the vault's soft-delete settings")
    assert validate_path(path) == [
        f"{path}:{step_line}: operate[8]: operate steps need 'uses' naming the resource they "
        "work on"
    ]


def test_a_broken_file_is_left_out_while_the_others_load(tmp_path: Path) -> None:
    for scenario_file in SCENARIOS.glob("*.yaml"):
        (tmp_path / scenario_file.name).write_text(scenario_file.read_text())
    (tmp_path / "compute-linux-vm.yaml").write_text("id: compute-linux-vm\n")
    broken, _ = write_broken(tmp_path, "--sku Standard_LRS", "--sku Premium_LRS")
    catalog = load_catalog(tmp_path)
    assert len(catalog) == len(list(SCENARIOS.glob("*.yaml"))) - 2
    assert set(catalog.broken) == {"compute-linux-vm", SAMPLE}
    files = {problem.split(":", 1)[0] for problem in catalog.problems()}
    assert files == {str(tmp_path / "compute-linux-vm.yaml"), str(broken)}
    assert validate_path(tmp_path) == catalog.problems()
    assert catalog.validate()[: len(catalog.problems())] == catalog.problems()
    # Never picked, and asking for it by name says why.
    picked = {s.id for s in catalog.select(len(catalog) * 3, seed="run-x")}
    assert SAMPLE not in picked and "compute-linux-vm" not in picked
    with pytest.raises(CatalogError, match=f"scenario '{SAMPLE}' cannot run: {broken}:"):
        catalog.get(SAMPLE)


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    original, _ = write_broken(tmp_path, "area: security", "area: security")
    twin = tmp_path / f"{SAMPLE}.yml"
    twin.write_text(original.read_text())
    catalog = load_catalog(tmp_path)
    assert catalog.ids() == [SAMPLE]
    assert catalog.problems() == [f"{twin}:1: id: duplicate id '{SAMPLE}' (also in {original})"]


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
        cost_per_hour_usd=0.5,
        resources=(vault,),
        deploy=(Step("Create", "az keyvault create --name shared-vault", creates=vault),),
        operate=(),
        cleanup=(Step("Delete", "az keyvault delete --name shared-vault", deletes=vault),),
    )
    assert Catalog([scenario]).validate() == [
        "adhoc: area: unknown area 'quantum'; known: " + ", ".join(AREAS),
        "adhoc: resources[0].name: key_vault names must include {prefix} to stay unique",
        "adhoc: deploy[0].command: must name {resource_group} or a resource of the scenario "
        "({prefix}...), so it cannot act on anything else",
        "adhoc: deploy[0].command: must pass --tags {tags}, or say why it cannot with 'untagged'",
        "adhoc: operate: operate has no steps; every phase needs at least one",
        "adhoc: cleanup[0].command: must name {resource_group} or a resource of the scenario "
        "({prefix}...), so it cannot act on anything else",
        "adhoc: resources: has 1 resources; a scenario needs at least 4",
        "adhoc: deploy: has 1 deploy steps; a scenario needs at least 4",
        "adhoc: operate: has 0 operate actions; a scenario needs at least 8",
    ]


def test_validation_is_worked_out_once_and_each_caller_gets_its_own_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The health check asks on every probe: the scenarios are checked once, and a caller
    that adds to the list it got changes nobody else's."""
    checked: list[str] = []

    def counted(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
        checked.append(scenario.id)
        return scenario_problems(scenario)

    monkeypatch.setattr(catalog_module, "scenario_problems", counted)
    write_broken(tmp_path, "area: security", "area: security")  # a sound copy
    write_broken(tmp_path, "area: security", "area: nowhere", stem="broken")
    catalog = load_catalog(tmp_path)
    checked.clear()  # loading checks each file too
    first = catalog.validate()
    assert checked == [SAMPLE]
    assert first and all("broken.yaml" in problem for problem in first), first
    expected = list(first)
    first.append("added by a caller")
    assert catalog.validate() == expected
    assert checked == [SAMPLE]  # not checked again
