"""Whole runs over the HTTP API on one shared host: sizes, input checks, idempotency, secrets.

Each test starts its own run (by run id, runs are independent) on the module's host; the
last test checks that no client secret seen during any of this module's runs reached
orchestration state, run records, or a log.
"""

from __future__ import annotations

import concurrent.futures
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from agent.operate_plan import OperatePlan
from haymaker.catalog import AREAS, load_catalog
from haymaker.records import RunRecords
from haymaker.run_request import parse_run_request
from tests.app.helpers import RECORD_TABLES, App, SecretWatcher, leaks, stored_texts

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "scenarios")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def secrets_seen(shared_app: App) -> Iterator[SecretWatcher]:
    """Every client secret the local secret store held while this module's runs ran."""
    with SecretWatcher(shared_app.state_dir) as watcher:
        yield watcher


def assert_clean_finish(app: App, run_id: str, run: dict[str, Any], agents: int) -> None:
    """Completed, every agent torn down, nothing of the run left anywhere."""
    assert run["status"] == "completed", run
    assert run["orchestration"]["runtime_status"] == "Completed"
    assert run["agents_torn_down"] == agents and run["left_behind"] == 0, run
    assert len(run["agents"]) == agents
    assert all(a["left_behind"] == 0 for a in run["agents"]), run["agents"]
    report = app.report(run_id)
    assert (report["status"], report["agents"]) == ("completed", agents)
    assert (report["torn_down"], report["left_behind"], report["left"]) == (agents, 0, [])
    assert all(result["clean"] for result in report["agent_results"]), report
    assert report["resources_created"] == report["resources_removed"] > 0, report
    assert app.leftovers(run_id) == []


def test_scenarios_list_every_area_with_cost_and_depth(shared_app: App) -> None:
    response = shared_app.get("scenarios")
    assert response.status_code == 200, response.text
    answer = response.json()
    scenarios = answer["scenarios"]
    assert len(scenarios) >= 50 and answer["broken"] == []
    per_area = Counter(s["area"] for s in scenarios)
    assert set(per_area) == set(AREAS) and min(per_area.values()) >= 5
    assert len({s["id"] for s in scenarios}) == len(scenarios)
    assert all(s["title"] and s["description"] and s["cost_per_hour_usd"] > 0 for s in scenarios)
    assert all(s["resources"] >= 4 and s["deploy_steps"] >= 4 for s in scenarios)
    assert sum(s["operate_actions"] for s in scenarios) / len(scenarios) >= 10


def test_one_scenario_shows_every_step_weights_and_cost(shared_app: App) -> None:
    response = shared_app.get("scenarios/security-key-rotation")
    assert response.status_code == 200, response.text
    scenario = response.json()
    expected = load_catalog(Path(__file__).resolve().parents[2] / "scenarios").get(
        "security-key-rotation"
    )
    assert scenario["cost_per_hour_usd"] == expected.cost_per_hour_usd
    assert scenario["depth"] == expected.depth()
    assert [r["name"] for r in scenario["resources"]] == [r.name for r in expected.resources]
    for phase, steps in expected.phases().items():
        assert [(s["name"], s["command"]) for s in scenario[phase]] == [
            (step.name, step.command) for step in steps
        ]
    assert [s["weight"] for s in scenario["operate"]] == [s.weight for s in expected.operate]
    error = error_of(shared_app.get("scenarios/mainframe-batch"), 404)
    assert error["field"] == "scenario_id" and "'mainframe-batch'" in error["message"]


@pytest.mark.parametrize("deep", [False, True])
def test_health_reports_every_check_ok(shared_app: App, deep: bool) -> None:
    response = shared_app.get("health", **({"deep": "true"} if deep else {}))
    assert response.status_code == 200, response.text
    health = response.json()
    assert health["ok"] is True
    names = [check["name"] for check in health["checks"]]
    assert names == ["settings", "storage", "catalog", "provider:local"]
    assert all(check["ok"] for check in health["checks"]), health
    provider_checks = health["checks"][-1]["detail"]
    expected = {"state_dir", "agent_program"} | ({"storage"} if deep else set())
    assert {c["name"] for c in provider_checks} == expected
    assert all(c["ok"] for c in provider_checks), provider_checks


def test_small_run_completes_and_leaves_nothing(shared_app: App) -> None:
    run_id = shared_app.start_run({"size": "small"})
    run = shared_app.wait_for_run(run_id)
    # The host's settings give the duration and poll interval (see tests/app/helpers.py).
    assert run["request"]["duration"] == "PT1H"
    assert run["request"]["poll_interval"] == "PT30M"
    assert len(set(run["scenario_ids"])) == 5
    assert_clean_finish(shared_app, run_id, run, agents=5)
    # The virtual clock gave the run its full hour (start and deadline on one clock).
    deadline = datetime.fromisoformat(run["deadline"].replace("Z", "+00:00"))
    started_at = datetime.fromisoformat(run["started_at"].replace("Z", "+00:00"))
    assert deadline - started_at == timedelta(hours=1)
    report = shared_app.report(run_id)
    assert report["outcomes"] == {"finished": 5}, report
    assert {a["phase"] for a in run["agents"]} == {"done"}, run["agents"]
    events = shared_app.events(run_id)
    told = {
        r["agent_id"]: (r["rounds"], r["commands"], r["commands_failed"])
        for r in report["agent_results"]
    }
    for agent in [f"a{i:02d}" for i in range(5)]:
        mine = [e for e in events if e["agent_id"] == agent]
        kinds = [e["type"] for e in mine]
        assert kinds.count("started") == 1 and kinds.count("finished") == 1, (agent, kinds)
        # The report says what the agent did, as its events tell it one by one.
        failed = sum(1 for e in mine if e["type"] == "command" and e["exit_code"])
        assert told[agent] == (kinds.count("heartbeat"), kinds.count("command"), failed), agent
        assert told[agent][0] >= 1, agent


def assert_acted_out(app: App, run_id: str, run: dict[str, Any]) -> None:
    """Each agent of the run acted out its scenario: started, deployed what the scenario
    makes, operated in the rounds its plan draws (the same for the same run and agent),
    removed everything it made, finished; no step of it failed."""
    events = app.events(run_id)
    for index, scenario_id in enumerate(run["scenario_ids"]):
        agent = f"a{index:02d}"
        where = (agent, scenario_id)
        scenario = CATALOG.get(scenario_id)
        mine = sorted((e for e in events if e["agent_id"] == agent), key=lambda e: e["seq"])
        types = [e["type"] for e in mine]
        assert types[0] == "started" and types[-1] == "finished", (where, types)
        assert "error" not in types, (where, [e for e in mine if e["type"] == "error"])
        created = {(e["kind"], e["name"]) for e in mine if e["type"] == "resource_created"}
        deleted = {(e["kind"], e["name"]) for e in mine if e["type"] == "resource_deleted"}
        assert len(created) == len(scenario.resources) and created == deleted, where
        rounds = types.count("heartbeat")
        plan = OperatePlan(scenario.to_dict()["operate"], run_id, agent)
        drawn = [action.step["name"] for _ in range(rounds) for action in plan.next_round()]
        operated = [e["step"] for e in mine if e["type"] == "command" and e["phase"] == "operate"]
        assert rounds >= 1 and operated == drawn, (where, operated, drawn)


# 50 agent processes: allow the run its own 600 s bound (wait_for_run), not the default 300 s.
@pytest.mark.timeout(900)
def test_fifty_agent_run_completes_and_leaves_nothing(shared_app: App) -> None:
    """The most agents a run may have, each through its whole life: provisioned, deployed,
    operating on the host's clock with the other 49, cleaned up, torn down. Beside it, a
    run of the scenarios its draw left out, so the two are the catalog's: each agent acts
    out a different one, end to end on the local cloud (Azurite), through the host as
    `./dev run` does.

    Ten minutes (the shortest run is five) is enough for that: an hour only added operate
    rounds and polls that the smaller runs here already make, at 50 agents' price."""
    body = {"duration": "PT10M", "poll_interval": "PT5M"}
    run_id = shared_app.start_run({"count": 50, **body})
    drawn = shared_app.run(run_id)["scenario_ids"]
    rest = sorted(set(CATALOG.ids()) - set(drawn))
    assert len(rest) <= 50, "two runs no longer cover the whole catalog"
    rest_id = shared_app.start_run({"scenarios": rest, **body}) if rest else None
    run = shared_app.wait_for_run(run_id, timeout=600)
    report = shared_app.report(run_id)
    # No fault is injected: every agent runs its scenario to the end.
    failed = {r["agent_id"]: r["error"] for r in report["agent_results"] if r["error"]}
    assert report["outcomes"] == {"finished": 50}, failed
    assert_clean_finish(shared_app, run_id, run, agents=50)
    agent_ids = [a["agent_id"] for a in run["agents"]]
    assert agent_ids == [f"a{i:02d}" for i in range(50)]
    assert_acted_out(shared_app, run_id, run)
    if rest_id is not None:
        other = shared_app.wait_for_run(rest_id, timeout=600)
        assert shared_app.report(rest_id)["outcomes"] == {"finished": len(rest)}
        assert_clean_finish(shared_app, rest_id, other, agents=len(rest))
        assert_acted_out(shared_app, rest_id, other)
    # Every catalog scenario, by at least one agent; each agent's scenario acted out.
    assert set(drawn) | set(rest) == set(CATALOG.ids())


def error_of(response: requests.Response, status: int) -> dict[str, Any]:
    """The documented error body: {"error": {"code", "message", "field"}}."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["message"]
    return dict(body["error"])


# (body, code, field): every way a POST /api/runs body can be wrong.
BAD_RUN_BODIES: list[tuple[str | bytes, str, str]] = [
    ("{not json", "invalid_json", "body"),
    (b"\xff\xfe{}", "invalid_json", "body"),
    ('["size", "small"]', "invalid_json", "body"),
    ('{"count": 2, "count": 3}', "invalid_json", "body"),
    ('{"scenarios": ["no-such-scenario"]}', "unknown_scenario", "scenarios"),
    ('{"scenarios": "compute-linux-vm"}', "invalid_field", "scenarios"),
    ('{"scenarios": [42]}', "invalid_field", "scenarios[0]"),
    ('{"scenarios": []}', "out_of_range", "scenarios"),
    ('{"duration": "8 hours"}', "invalid_field", "duration"),
    ('{"duration": "P1M"}', "invalid_field", "duration"),
    ('{"duration": 28800}', "invalid_field", "duration"),
    ('{"duration": "PT1M"}', "out_of_range", "duration"),
    ('{"duration": "P2D"}', "out_of_range", "duration"),
    ('{"poll_interval": "PT1S"}', "out_of_range", "poll_interval"),
    ('{"duration": "PT30M", "poll_interval": "PT30M"}', "out_of_range", "poll_interval"),
    ('{"count": 0}', "out_of_range", "count"),
    ('{"count": 51}', "out_of_range", "count"),
    ('{"count": true}', "invalid_field", "count"),
    ('{"count": 2.5}', "invalid_field", "count"),
    ('{"count": "5"}', "invalid_field", "count"),
    ('{"size": "huge"}', "invalid_field", "size"),
    ('{"size": "small", "count": 3}', "conflicting_fields", "count"),
    ('{"region": "antarctica"}', "invalid_field", "region"),
    ('{"run_id": "Not A Valid Id!"}', "invalid_field", "run_id"),
    ('{"sizes": "small"}', "unknown_field", "sizes"),
    ('{"count": 1, "colour": "red"}', "unknown_field", "colour"),
    # What crashed the parser: nesting past its recursion limit, a 5,000-digit number.
    (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "body"),
    (b'{"count": ' + b"9" * 5000 + b"}", "invalid_json", "body"),
]


def test_bad_input_on_every_route_is_refused_and_starts_nothing(shared_app: App) -> None:
    app = shared_app
    instances_before = {i["instanceId"] for i in app.instances()}
    for body, code, field in BAD_RUN_BODIES:
        error = error_of(app.post("runs", data=body), 400)
        assert (error["code"], error["field"]) == (code, field), (body, error)
        if field:
            assert field.split("[")[0] in error["message"], (body, error)

    # Query strings of GET /api/runs.
    for params, field in [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2026-13-45"}, "created_to"),
        ({"continuation": "not-a-token"}, "continuation"),
        # Valid times that leave the years a datetime holds once converted to UTC.
        ({"created_from": "9999-12-31T23:59:59-23:59"}, "created_from"),
        ({"created_to": "0001-01-01T00:00:00+01:00"}, "created_to"),
    ]:
        error = error_of(app.get("runs", **params), 400)
        assert error["field"] == field, (params, error)

    # POST /api/sweeps refuses what POST /api/runs refuses.
    bad_sweeps: list[tuple[str | bytes, str, str]] = [
        (b"[" * 100_000 + b"]" * 100_000, "invalid_json", "body"),
        ('{"dry_run": true, "colour": "red"}', "unknown_field", "colour"),
        ('{"dry_run": "yes"}', "invalid_field", "dry_run"),
        ('["dry_run"]', "invalid_json", "body"),
    ]
    for body, code, field in bad_sweeps:
        error = error_of(app.post("sweeps", data=body), 400)
        assert (error["code"], error["field"]) == (code, field), (body, error)

    # Unknown run ids on every /api/runs/{id}/... route.
    for unknown in ("run-does-not-exist", "x" * 200):
        for path in ("", "/agents", "/resources", "/events", "/report"):
            error = error_of(app.get(f"runs/{unknown}{path}"), 404)
            assert (error["code"], error["field"]) == ("not_found", "run_id"), (path, error)
        error = error_of(app.post(f"runs/{unknown}/cancel"), 404)
        assert (error["code"], error["field"]) == ("not_found", "run_id")

    # Nothing was started by any of those: every start leaves an instance in this host's
    # task hub. (Run records are not compared: every test host on this storage account
    # shares them, and other tests' runs come and go meanwhile.)
    assert {i["instanceId"] for i in app.instances()} == instances_before

    # A real run: its report is not ready while it runs, its events refuse a bad limit,
    # and once finished it cannot be canceled.
    run_id = app.start_run({"count": 1})
    error = error_of(app.get(f"runs/{run_id}/report"), 404)
    assert (error["code"], error["field"]) == ("not_ready", "run_id")
    for limit in ("0", "1001", "many"):
        error = error_of(app.get(f"runs/{run_id}/events", limit=limit), 400)
        assert error["field"] == "limit"
    error = error_of(app.get(f"runs/{run_id}/events", continuation="garbage"), 400)
    assert error["field"] == "continuation"
    assert app.wait_for_run(run_id)["status"] == "completed"
    error = error_of(app.post(f"runs/{run_id}/cancel"), 409)
    assert error["field"] == "run_id" and "completed" in error["message"]

    # The function key is required.
    assert requests.post(f"{app.host.api}/runs", json={"count": 1}, timeout=10).status_code == 401


def test_same_run_id_twice_is_one_run(shared_app: App) -> None:
    app = shared_app
    run_id = "idem-" + uuid.uuid4().hex[:10]
    body = {"count": 1, "duration": "PT1H", "run_id": run_id}
    # Two at once: exactly one starts the run.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: app.post("runs", body), range(2)))
    app.runs.append(run_id)
    assert sorted(a.status_code for a in answers) == [200, 202], [a.text for a in answers]
    # And once more after it started: the same run again.
    again = app.post("runs", body)
    assert again.status_code == 200, again.text
    for answer in [*answers, again]:
        assert answer.json()["run_id"] == run_id
        assert answer.json()["statusQueryGetUri"] == answers[0].json()["statusQueryGetUri"]
    # Every answer shows the one run's plan, not a fresh draw for a run that never starts,
    # and says whether it started it.
    assert len({tuple(a.json()["plan"]["scenario_ids"]) for a in [*answers, again]}) == 1
    assert sorted(a.json()["created"] for a in [*answers, again]) == [False, False, True]
    # Another request with this id starts nothing and says whose id it is.
    other = app.post("runs", {**body, "count": 3})
    error = error_of(other, 409)
    assert error["field"] == "run_id" and f"run {run_id!r} exists already" in error["message"]
    assert "1 agent for PT1H" in error["message"], error
    run = app.wait_for_run(run_id)
    assert run["status"] == "completed" and len(run["agents"]) == 1
    ids = [i["instanceId"] for i in app.instances(instanceIdPrefix=run_id)]
    assert sorted(ids) == [run_id, f"{run_id}:a00"], ids
    listed = [r["run_id"] for r in app.get("runs", limit=200).json()["runs"]]
    assert listed.count(run_id) == 1
    assert [e["type"] for e in app.events(run_id)].count("started") == 1
    assert app.leftovers(run_id) == []


def test_a_running_run_whose_cancel_was_asked_for_shows_canceling(shared_app: App) -> None:
    """Between a cancel and the run's end its agents tear down; the run said `running`
    all that while (its record does until it closes), as if nobody had asked."""
    app = shared_app
    run_id = "cncl-" + uuid.uuid4().hex[:10]
    records = RunRecords(app.connection)
    records.create_run(run_id, {"count": 1}, ["security-key-rotation"], datetime.now(UTC))
    try:
        records.update_run(run_id, status="running")
        assert app.run(run_id)["status"] == "running"
        # A cancel takes no body: a malformed one is a mistake, refused before anything.
        assert error_of(app.post(f"runs/{run_id}/cancel", data="{bad"), 400)["field"] == "body"
        assert "cancel_requested_at" not in app.run(run_id)
        records.update_run(run_id, cancel_requested_at=datetime.now(UTC))
        assert app.run(run_id)["status"] == "canceling"
        listed = app.get("runs", status="running", limit=200).json()["runs"]
        assert {r["run_id"]: r["status"] for r in listed}[run_id] == "canceling"
    finally:  # no orchestration runs it: close it, as the run would
        records.update_run(run_id, status="canceled")
    assert app.run(run_id)["status"] == "canceled"


def test_a_start_that_died_after_its_record_is_finished_by_the_next(shared_app: App) -> None:
    """A host that crashed between writing the run record and starting the orchestration
    leaves a pending record; POSTing the same request again starts it, as recorded (with
    the scenario drawn then)."""
    app = shared_app
    run_id = "heal-" + uuid.uuid4().hex[:10]
    recorded = {"count": 1, "duration": "PT30M", "poll_interval": "PT15M", "run_id": run_id}
    request = parse_run_request(
        json.dumps(recorded).encode(),
        load_catalog(Path(__file__).resolve().parents[2] / "scenarios"),
        None,
    )
    RunRecords(app.connection).create_run(
        run_id, request.to_dict(), ["security-key-rotation"], datetime.now(UTC)
    )
    app.runs.append(run_id)
    answer = app.post("runs", recorded)
    assert answer.status_code == 200, answer.text
    assert answer.json()["plan"]["scenario_ids"] == ["security-key-rotation"]
    run = app.wait_for_run(run_id)
    assert run["status"] == "completed"
    assert [a["scenario_id"] for a in run["agents"]] == ["security-key-rotation"]
    assert app.leftovers(run_id) == []


def test_no_client_secret_leaves_the_secret_store(
    shared_app: App, secrets_seen: SecretWatcher
) -> None:
    """Canary: every client secret held during this module's runs (this test's own run
    included) is searched for in orchestration state, run records and logs."""
    app = shared_app
    since = secrets_seen.started_at - timedelta(minutes=1)
    run_id = app.start_run({"count": 2})
    app.wait_for_phase(run_id, "monitoring", 2)
    app.wait_for_run(run_id)
    secrets_seen.read()
    ours = list(secrets_seen.values.values())
    assert len(ours) >= 2, "the watcher saw no client secrets while agents were monitoring"
    assert all(len(value) >= 32 for value in ours)

    places = stored_texts(app, app.connection, since)
    for name in RECORD_TABLES:
        assert run_id in places[f"HayMaker{name} table"], f"HayMaker{name} has no row of the run"
    assert f"status of {run_id}" in places
    assert len(places) > 10
    # Positive control: the search does find what is meant to be there, such as the
    # secrets' names (references travel through history; values must not).
    history = places[f"{app.hub}History table"]
    assert all(name in history for name in secrets_seen.values), "secret refs not in history"

    assert leaks(ours, places) == []
