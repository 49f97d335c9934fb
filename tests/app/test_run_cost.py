"""A run's estimated cost in its plan, and HAYMAKER_MAX_RUN_COST_USD refusing one over it.

One host with a budget of 1.00 USD: the catalog's 50 dearest scenarios (as many as a run
may have) for eight hours are far over it, one cheap scenario for an hour far under.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from haymaker.catalog import load_catalog
from tests.app.helpers import App, app_host

pytestmark = pytest.mark.slow

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "scenarios")
CHEAP = min(CATALOG.scenarios(), key=lambda s: (s.cost_per_hour_usd, s.id))
BIG = sorted(CATALOG.scenarios(), key=lambda s: (-s.cost_per_hour_usd, s.id))[:50]
BIG_IDS = sorted(s.id for s in BIG)
BIG_8H = round(sum(s.cost_per_hour_usd for s in BIG) * 8, 2)


@pytest.fixture(scope="module")
def budget_app(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("budget")
    with app_host(folder, storage_connection_string, HAYMAKER_MAX_RUN_COST_USD="1.00") as app:
        yield app


def started_anything(app: App, instances: set[str], runs: list[object]) -> bool:
    now = {i["instanceId"] for i in app.instances()}
    return now != instances or app.get("runs", limit=200).json()["runs"] != runs


def test_a_run_over_budget_is_refused_naming_estimate_and_limit(budget_app: App) -> None:
    app = budget_app
    instances = {i["instanceId"] for i in app.instances()}
    runs = app.get("runs", limit=200).json()["runs"]
    response = app.post("runs", {"scenarios": BIG_IDS, "duration": "PT8H"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "over_budget"
    assert f"estimated cost of {BIG_8H:.2f} USD" in error["message"]
    assert "limit of 1.00 USD set by HAYMAKER_MAX_RUN_COST_USD" in error["message"]
    assert not started_anything(app, instances, runs)


def test_a_dry_run_shows_the_plan_and_starts_nothing(budget_app: App) -> None:
    app = budget_app
    instances = {i["instanceId"] for i in app.instances()}
    runs = app.get("runs", limit=200).json()["runs"]

    over = app.post("runs", {"scenarios": BIG_IDS, "duration": "PT8H", "dry_run": True})
    assert over.status_code == 200, over.text
    plan = over.json()
    assert plan["agents"] == 50 and sorted(plan["scenario_ids"]) == BIG_IDS
    assert (plan["estimated_cost_usd"], plan["budget_usd"]) == (BIG_8H, 1.0)
    assert plan["within_budget"] is False
    assert sum(s["usd"] for s in plan["cost"]["scenarios"]) == pytest.approx(BIG_8H, abs=0.3)

    under = app.post("runs", {"scenarios": [CHEAP.id], "duration": "PT2H", "dry_run": True})
    assert under.status_code == 200, under.text
    plan = under.json()
    assert plan["estimated_cost_usd"] == round(CHEAP.cost_per_hour_usd * 2, 2)
    assert plan["within_budget"] is True and plan["cost"]["hours"] == 2
    assert not started_anything(app, instances, runs)


def test_a_run_within_budget_starts_and_answers_with_its_plan(budget_app: App) -> None:
    app = budget_app
    body = {"scenarios": [CHEAP.id], "duration": "PT1H", "poll_interval": "PT15M"}
    response = app.post("runs", body)
    assert response.status_code == 202, response.text
    answer = response.json()
    app.runs.append(answer["run_id"])
    assert answer["plan"]["scenario_ids"] == [CHEAP.id]
    assert answer["plan"]["estimated_cost_usd"] == round(CHEAP.cost_per_hour_usd, 2)
    assert app.wait_for_run(answer["run_id"])["status"] == "completed"
