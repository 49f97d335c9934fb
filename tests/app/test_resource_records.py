"""A run's resource rows end as teardown found things: removed when gone, left when there.

Two ways a removal goes unrecorded: the host dies after teardown deleted an agent's
resources and before it wrote the rows (the retried step finds nothing to delete), and an
agent reports its own removals after the last poll. Either way no row may stay `created`,
and the report's `left_behind` counts exactly the rows that are not `removed`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from haymaker.events import EventSender, events_queue_name
from haymaker.naming import local_resource_name, run_short, tags_for
from haymaker.providers.local_cloud import LocalCloud
from tests.app.helpers import App, app_host, wait_until

pytestmark = pytest.mark.slow


def resource_rows(app: App, run_id: str) -> list[dict[str, Any]]:
    response = app.get(f"runs/{run_id}/resources")
    assert response.status_code == 200, response.text
    return list(response.json()["resources"])


def assert_reconciled(app: App, run_id: str) -> list[dict[str, Any]]:
    """No row says `created`; the report's left_behind and `left` are the rows not removed."""
    rows = resource_rows(app, run_id)
    assert rows and not [r for r in rows if r["action"] == "created"], rows
    report = app.report(run_id)
    kept = [r for r in rows if r["action"] != "removed"]
    assert report["left_behind"] == len(kept) == len(report["left"]), (report, kept)
    assert report["resources_created"] == len(rows), report
    assert report["resources_removed"] == len(rows) - len(kept), report
    return rows


def test_a_host_killed_during_remove_resources_leaves_no_stale_row(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host(
        tmp_path,
        storage_connection_string,
        hub=unique_name,
        HAYMAKER_AGENT_MAX_WALL_SECONDS="120",
        HAYMAKER_LOCAL_CRASH_IN_TEARDOWN="a01",
    ) as app:
        run_id = app.start_run({"count": 2, "duration": "PT24H"})
        app.wait_for_phase(run_id, "monitoring", 2)
        wait_until(
            lambda: {r["agent_id"] for r in resource_rows(app, run_id)} == {"a00", "a01"},
            timeout=60,
            message="both agents' resource rows",
        )
        assert app.post(f"runs/{run_id}/cancel").status_code == 202
        # a01's teardown deletes its resources, and the host dies before recording it.
        assert app.host.process is not None
        app.host.process.wait(timeout=120)
        assert (app.state_dir / "crashed" / f"{run_short(run_id)}-a01.json").exists()
        app.host.restart()

        run = app.wait_for_run(run_id)
        assert run["status"] == "canceled", run
        rows = assert_reconciled(app, run_id)
        assert {r["action"] for r in rows} == {"removed"}, rows
        mine = [r for r in rows if r["agent_id"] == "a01"]
        assert mine and all("verified" in r.get("reason", "") for r in mine), mine
        assert app.report(run_id)["left_behind"] == 0
        assert app.leftovers(run_id) == []


@pytest.fixture(scope="module")
def slow_clock_app(storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The virtual clock jumps only after 30 s without work, so no poll comes between what
    a test does and the cancel after it. Agent a00 is silent: the test speaks for it."""
    with app_host(
        tmp_path_factory.mktemp("slow-clock"),
        storage_connection_string,
        idle_settle="30",
        HAYMAKER_AGENT_MAX_WALL_SECONDS="120",
        HAYMAKER_AGENT_SILENT="a00",
    ) as app:
        yield app


def test_what_an_agent_reports_after_the_last_poll_is_recorded(
    slow_clock_app: App, storage_connection_string: str
) -> None:
    app = slow_clock_app
    run_id = app.start_run({"count": 1, "duration": "PT1H"})
    run = app.wait_for_phase(run_id, "monitoring", 1)
    [agent] = run["agents"]
    # As the agent would: make a tagged container, report it, remove it, report that ...
    local_name = local_resource_name("blob_container", run_id, "a00", "late")
    cloud = LocalCloud(storage_connection_string)
    cloud.create("blob_container", local_name, tags_for(run_id, "a00", agent["scenario_id"]))
    sender = EventSender(storage_connection_string, events_queue_name(run_id))
    resource = {"kind": "web_app", "name": "late", "local_kind": "blob_container"}
    identity = {"run_id": run_id, "agent_id": "a00", "scenario_id": agent["scenario_id"]}
    sender.send({**identity, **resource, "local_name": local_name, "type": "resource_created"})
    cloud.delete("blob_container", local_name)
    sender.send({**identity, **resource, "local_name": local_name, "type": "resource_deleted"})
    # ... and it is stopped before any poll reads that.
    assert app.post(f"runs/{run_id}/cancel").status_code == 202

    run = app.wait_for_run(run_id)
    assert run["status"] == "canceled", run
    kinds = [event["type"] for event in app.events(run_id, agent="a00")]
    assert kinds == ["resource_created", "resource_deleted"], kinds
    [row] = assert_reconciled(app, run_id)
    assert (row["name"], row["action"]) == (local_name, "removed"), row
    assert app.leftovers(run_id) == []
