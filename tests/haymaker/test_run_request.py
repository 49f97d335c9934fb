"""POST /api/runs bodies: defaults, resolution to scenarios, and a precise 400 for each mistake."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from haymaker.catalog import Catalog, load_catalog
from haymaker.run_cost import check_budget, estimate_run_cost
from haymaker.run_request import RequestError, RunRequest, new_run_id, parse_run_request
from haymaker.settings import Settings, load_settings

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
RUN_ID = "run-20261126-113000-ab12cd"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(SCENARIOS)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "HAYMAKER_RUN_SIZE": "medium",
            "HAYMAKER_RUN_DURATION": "PT2H",
            "HAYMAKER_POLL_INTERVAL": "PT5M",
        }
    )


def parse(body: object, catalog: Catalog, settings: Settings | None = None) -> RunRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_run_request(raw, catalog, settings)


@pytest.mark.parametrize("body", [b"", b"  \n", {}])
def test_an_empty_request_runs_with_the_settings(
    body: object, catalog: Catalog, settings: Settings
) -> None:
    request = parse(body, catalog, settings)
    assert request.size == "medium"
    assert request.agent_count == 15
    assert request.duration == timedelta(hours=2)
    assert request.poll_interval == timedelta(minutes=5)
    assert request.run_id is None and request.region is None


def test_without_settings_the_documented_defaults_apply(catalog: Catalog) -> None:
    request = parse({}, catalog)
    assert (request.size, request.agent_count) == ("small", 5)
    assert request.duration == timedelta(hours=8)
    assert request.poll_interval == timedelta(minutes=15)


def test_a_full_request_is_taken_as_given(catalog: Catalog, settings: Settings) -> None:
    request = parse(
        {
            "count": 7,
            "duration": "PT30M",
            "poll_interval": "PT10S",
            "region": "middle_east",
            "run_id": "demo-run-1",
        },
        catalog,
        settings,
    )
    assert request == RunRequest(
        duration=timedelta(minutes=30),
        poll_interval=timedelta(seconds=10),
        count=7,
        region="middle_east",
        run_id="demo-run-1",
    )


def test_null_fields_count_as_absent(catalog: Catalog) -> None:
    request = parse({"size": None, "count": 3, "region": None}, catalog)
    assert (request.size, request.count, request.region) == (None, 3, None)


def test_a_short_run_without_a_poll_interval_is_still_polled(catalog: Catalog) -> None:
    request = parse({"duration": "PT10M"}, catalog)
    assert request.poll_interval < request.duration
    assert request.poll_interval == timedelta(minutes=2, seconds=30)


def test_a_scenario_list_is_used_in_order_repeats_allowed(catalog: Catalog) -> None:
    ids = ["networking-hub-spoke", "compute-linux-vm", "networking-hub-spoke"]
    request = parse({"scenarios": ids}, catalog)
    assert request.agent_count == 3
    assert request.scenario_ids(catalog) == ids


def test_a_size_resolves_to_the_run_ids_selection(catalog: Catalog) -> None:
    request = parse({"size": "large", "run_id": RUN_ID}, catalog)
    picked = request.scenario_ids(catalog)
    assert len(picked) == 30
    assert picked == [s.id for s in catalog.select(30, seed=RUN_ID)]
    assert picked == parse({"size": "large", "run_id": RUN_ID}, catalog).scenario_ids(catalog)


def test_a_count_needs_a_run_id_before_resolving(catalog: Catalog) -> None:
    request = parse({"count": 4}, catalog)
    with pytest.raises(ValueError, match="run id"):
        request.scenario_ids(catalog)
    assert len(request.with_run_id(RUN_ID).scenario_ids(catalog)) == 4


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b"{not json", "invalid_json", "body"),
        (b"\xff\xfe", "invalid_json", "body"),
        (b"[1, 2]", "invalid_json", "body"),
        (b'"small"', "invalid_json", "body"),
        (b'{"size": "small", "size": "large"}', "invalid_json", "body"),
        # What makes Python's parser crash or balk: deep nesting (RecursionError), a
        # number of more digits than int() converts (ValueError), a nesting that parses but
        # is deeper than any request needs.
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "body"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "invalid_json", "body"),
        (b'{"count": ' + b"9" * 5000 + b"}", "invalid_json", "body"),
        (b'{"scenarios": ' + b"[" * 65 + b"]" * 65 + b"}", "invalid_json", "body"),
        ({"count": 10**4000}, "out_of_range", "count"),
        ({"count": -(10**4000)}, "out_of_range", "count"),
        ({"count": 1e308 * 10}, "invalid_field", "count"),
        ({"scenarios": [["compute-linux-vm"]]}, "invalid_field", "scenarios[0]"),
        ({"region": ["americas"]}, "invalid_field", "region"),
        ({"region": {"name": "americas"}}, "invalid_field", "region"),
        ({"x" * 100_000: 1}, "unknown_field", "x" * 80),
        ({"sise": "small"}, "unknown_field", "sise"),
        ({"callback": None}, "unknown_field", "callback"),
        ({"size": "small", "count": 3}, "conflicting_fields", "count"),
        ({"count": 3, "scenarios": ["compute-linux-vm"]}, "conflicting_fields", "scenarios"),
        ({"size": "huge"}, "invalid_field", "size"),
        ({"size": 5}, "invalid_field", "size"),
        ({"count": True}, "invalid_field", "count"),
        ({"count": 2.0}, "invalid_field", "count"),
        ({"count": "3"}, "invalid_field", "count"),
        ({"count": 0}, "out_of_range", "count"),
        ({"count": 51}, "out_of_range", "count"),
        ({"scenarios": "compute-linux-vm"}, "invalid_field", "scenarios"),
        ({"scenarios": []}, "out_of_range", "scenarios"),
        ({"scenarios": ["compute-linux-vm"] * 51}, "out_of_range", "scenarios"),
        ({"scenarios": ["compute-linux-vm", 7]}, "invalid_field", "scenarios[1]"),
        ({"scenarios": ["compute-linux-vm", "mainframe"]}, "unknown_scenario", "scenarios"),
        ({"duration": "8 hours"}, "invalid_field", "duration"),
        ({"duration": 28800}, "invalid_field", "duration"),
        ({"duration": "PT4M"}, "out_of_range", "duration"),
        ({"duration": "PT25H"}, "out_of_range", "duration"),
        ({"poll_interval": "PT5S"}, "out_of_range", "poll_interval"),
        ({"poll_interval": "PT2H"}, "out_of_range", "poll_interval"),
        ({"duration": "PT10M", "poll_interval": "PT10M"}, "out_of_range", "poll_interval"),
        ({"region": "antarctica"}, "invalid_field", "region"),
        ({"run_id": "ab"}, "invalid_field", "run_id"),
        ({"run_id": "-leading-dash"}, "invalid_field", "run_id"),
        ({"run_id": "Run-Upper"}, "invalid_field", "run_id"),
        ({"run_id": "a" * 41}, "invalid_field", "run_id"),
        ({"run_id": 42}, "invalid_field", "run_id"),
    ],
)
def test_each_bad_request_gets_its_code_and_field(
    body: object, code: str, field: str, catalog: Catalog
) -> None:
    with pytest.raises(RequestError) as caught:
        parse(body, catalog)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert field.split("[")[0] in caught.value.message


def test_an_unknown_scenario_names_it_and_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(RequestError) as caught:
        parse({"scenarios": ["compute-linux-vm", "mainframe"]}, catalog)
    assert "mainframe" in caught.value.message
    assert all(scenario_id in caught.value.message for scenario_id in catalog.ids())


def test_the_error_becomes_a_json_response_body(catalog: Catalog) -> None:
    with pytest.raises(RequestError) as caught:
        parse({"count": 99}, catalog)
    body = json.loads(json.dumps(caught.value.to_dict()))
    assert body == {
        "error": {
            "code": "out_of_range",
            "message": "count must be between 1 and 50; got 99",
            "field": "count",
        }
    }


def test_a_request_survives_a_json_round_trip(catalog: Catalog) -> None:
    request = parse(
        {"scenarios": ["compute-linux-vm"], "duration": "P1D", "poll_interval": "PT10.5S"},
        catalog,
    ).with_run_id(RUN_ID)
    data = json.loads(json.dumps(request.to_dict()))
    assert data["duration"] == "P1D" and data["poll_interval"] == "PT10.5S"
    assert RunRequest.from_dict(data) == request


def test_a_timer_run_uses_the_configured_size_and_its_region(settings: Settings) -> None:
    request = RunRequest.scheduled(settings, "asia", RUN_ID)
    assert (request.size, request.agent_count, request.region) == ("medium", 15, "asia")
    assert (request.duration, request.poll_interval) == (
        settings.run_duration,
        settings.poll_interval,
    )
    assert request.run_id == RUN_ID
    with pytest.raises(ValueError, match="unknown region"):
        RunRequest.scheduled(settings, "atlantis", RUN_ID)


def test_a_run_size_setting_that_counts_agents_shapes_timer_and_default_runs(
    catalog: Catalog,
) -> None:
    three = load_settings(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "HAYMAKER_RUN_SIZE": "3"}
    )
    scheduled = RunRequest.scheduled(three, "europe", RUN_ID)
    assert (scheduled.size, scheduled.count, scheduled.agent_count) == (None, 3, 3)
    assert len(scheduled.scenario_ids(catalog)) == 3
    default = parse({}, catalog, three)
    assert (default.size, default.count) == (None, 3)


def test_new_run_ids_are_readable_sortable_and_valid_in_requests(catalog: Catalog) -> None:
    assert new_run_id(datetime(2026, 11, 26, 11, 30), "ab12cd") == RUN_ID
    plus_two = timezone(timedelta(hours=2))
    assert new_run_id(datetime(2026, 11, 26, 13, 30, tzinfo=plus_two), "ab12cd") == RUN_ID
    assert new_run_id(datetime(2026, 11, 26, 11, 30, tzinfo=UTC), "ab12cd") == RUN_ID
    assert parse({"run_id": RUN_ID}, catalog).run_id == RUN_ID
    with pytest.raises(ValueError, match="token"):
        new_run_id(datetime(2026, 11, 26), "AB/12")


def test_the_estimate_adds_each_agents_cost_over_the_duration(catalog: Catalog) -> None:
    first, second = catalog.scenarios()[:2]
    ids = [first.id, first.id, second.id]
    estimate = estimate_run_cost(catalog, ids, timedelta(hours=3))
    expected = (2 * first.cost_per_hour_usd + second.cost_per_hour_usd) * 3
    assert estimate.usd == pytest.approx(expected)
    assert estimate.to_dict()["scenarios"][0]["agents"] in (1, 2)
    check_budget(estimate, None)
    check_budget(estimate, round(expected + 0.01, 2))
    with pytest.raises(RequestError) as refused:
        check_budget(estimate, 0.01)
    assert (
        refused.value.code == "over_budget" and refused.value.field == "body"
    )  # the request as a whole
    assert f"estimated cost of {expected:.2f} USD" in refused.value.message
    assert "limit of 0.01 USD set by HAYMAKER_MAX_RUN_COST_USD" in refused.value.message


def test_a_dry_run_is_a_flag_and_a_broken_scenario_cannot_be_asked_for(
    catalog: Catalog, tmp_path: Path
) -> None:
    assert parse_run_request(b'{"count": 1, "dry_run": true}', catalog, None).dry_run
    with pytest.raises(RequestError) as caught:
        parse_run_request(b'{"dry_run": "yes"}', catalog, None)
    assert (caught.value.code, caught.value.field) == ("invalid_field", "dry_run")
    (tmp_path / "compute-linux-vm.yaml").write_text("id: compute-linux-vm\n")
    (tmp_path / "security-key-rotation.yaml").write_text(
        (SCENARIOS / "security-key-rotation.yaml").read_text()
    )
    broken = load_catalog(tmp_path)
    with pytest.raises(RequestError) as caught:
        parse_run_request(b'{"scenarios": ["compute-linux-vm"]}', broken, None)
    assert (caught.value.code, caught.value.field) == ("invalid_scenario", "scenarios")
    assert "compute-linux-vm.yaml:1: missing key 'title'" in caught.value.message
    assert [s.id for s in broken.select(5, seed="run-x")] == ["security-key-rotation"] * 5
