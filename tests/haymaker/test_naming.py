"""Names are deterministic, valid where Azure puts them, and distinct across runs and agents."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from haymaker import naming

RUN = "run-20261126-113000-ab12cd"
OTHER_RUN = "run-20261126-173000-ab12cd"  # same suffix, six hours later: runs overlap


def test_agent_ids_are_deterministic_and_zero_padded() -> None:
    assert [naming.agent_id(RUN, i) for i in (0, 3, 29)] == ["a00", "a03", "a29"]
    assert naming.agent_id(RUN, 3) == naming.agent_id(OTHER_RUN, 3)
    with pytest.raises(ValueError):
        naming.agent_id(RUN, -1)


def test_run_short_is_stable_and_tells_overlapping_runs_apart() -> None:
    assert naming.run_short(RUN) == naming.run_short(RUN)
    assert re.fullmatch(r"[0-9a-f]{8}", naming.run_short(RUN))
    assert naming.run_short(RUN) != naming.run_short(OTHER_RUN)


def test_tags_carry_run_agent_and_scenario() -> None:
    assert naming.tags_for(RUN, "a03", "compute-linux-vm") == {
        "azurehaymaker-managed": "true",
        "azurehaymaker-run": RUN,
        "azurehaymaker-agent": "a03",
        "azurehaymaker-scenario": "compute-linux-vm",
    }


def test_resource_group_name_fits_90_chars_even_for_long_scenarios() -> None:
    name = naming.resource_group_name(RUN, "a03", "compute-linux-vm")
    assert name == f"haymaker-{naming.run_short(RUN)}-a03-compute-linux-vm"
    long_name = naming.resource_group_name(RUN, "a03", "x" * 200)
    assert len(long_name) <= 90 and not long_name.endswith("-")


def test_identity_display_name_is_recognized_by_the_sweep_pattern() -> None:
    name = naming.identity_display_name("compute-linux-vm", RUN, "a03")
    assert name == f"AzureHayMaker-compute-linux-vm-{naming.run_short(RUN)}-a03"
    match = naming.IDENTITY_NAME_PATTERN.match(name)
    assert match and match["run_short"] == naming.run_short(RUN) and match["agent"] == "a03"
    assert match["scenario"] == "compute-linux-vm"
    assert not naming.IDENTITY_NAME_PATTERN.match("AzureHayMaker-someone-elses-app")


def test_secret_names_are_key_vault_safe_and_matchable() -> None:
    name = naming.secret_name(RUN, "a03")
    assert re.fullmatch(r"[0-9A-Za-z-]{1,127}", name)
    assert naming.SECRET_NAME_PATTERN.match(name)["run_short"] == naming.run_short(RUN)  # type: ignore[index]


@pytest.mark.parametrize("kind", ["blob_container", "queue"])
def test_local_container_and_queue_names_are_valid(kind: str) -> None:
    for base in ("{prefix}logs", "Orders_Archive!!", "", "x" * 100, "a--b"):
        name = naming.local_resource_name(kind, RUN, "a03", base)
        assert 3 <= len(name) <= 63
        assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*", name), name


def test_local_table_names_are_valid() -> None:
    for base in ("orders", "9lives", "with-dashes", "x" * 100):
        name = naming.local_resource_name("table", RUN, "a03", base)
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{2,62}", name), name


def test_local_names_include_run_and_agent_so_overlapping_runs_never_collide() -> None:
    names = {
        naming.local_resource_name("queue", run, agent, "work")
        for run in (RUN, OTHER_RUN)
        for agent in ("a00", "a01")
    }
    assert len(names) == 4


def test_a_filled_prefix_is_not_repeated() -> None:
    prefix = naming.name_prefix(RUN, "a03")
    assert naming.local_resource_name("blob_container", RUN, "a03", f"{prefix}-logs") == (
        naming.local_resource_name("blob_container", RUN, "a03", "logs")
    )
    assert re.fullmatch(r"[a-z][a-z0-9]{2,13}", prefix)


def test_times_have_one_fixed_width_spelling_so_text_order_is_time_order() -> None:
    moment = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    assert naming.iso_utc(moment) == "2026-11-26T06:00:00.000Z"
    assert naming.iso_utc(moment.replace(tzinfo=None)) == "2026-11-26T06:00:00.000Z"
    shifted = moment.astimezone(timezone(timedelta(hours=2)))
    assert naming.iso_utc(shifted) == "2026-11-26T06:00:00.000Z"
    assert naming.parse_iso_utc("2026-11-26T06:00:00Z") == moment
    later = naming.iso_utc(moment + timedelta(milliseconds=500))
    assert naming.iso_utc(moment) < later


def test_bad_ids_are_refused() -> None:
    for bad in ("", "a/b", "x?y", "x" * 200):
        with pytest.raises(ValueError):
            naming.run_short(bad)
    with pytest.raises(ValueError):
        naming.tags_for(RUN, "agent-3", "s")
