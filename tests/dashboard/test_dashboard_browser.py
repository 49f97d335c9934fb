"""The dashboard in a real browser: the distribution's Chromium, driven by Playwright.

During a local run on devhost, the page (opened once with the key in its address) shows
the run and its agents moving through their phases, opens an agent's timeline, and shows
a `<script>` planted in an event's text as text. A screenshot goes into the test's
output folder (HAYMAKER_TEST_OUTPUT, else the test's temporary folder).

The browser is /usr/bin/chromium from Debian's packages (`./dev setup` and `.ci/run`
install it); Playwright never downloads one of its own here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from haymaker.events import EventSender, events_queue_name
from tests.app.helpers import App, app_host

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLANTED = '<script>window.__planted = 1</script><img src=x onerror="window.__planted = 2">'


@pytest.fixture(scope="module")
def dashboard_app(
    private_storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[App]:
    # The session's private Azurite: the page's 7-day metrics then read this session's
    # runs, not every run of every session on the shared one.
    with app_host(
        tmp_path_factory.mktemp("dashboard"),
        private_storage_connection_string,
        AzureWebJobsStorage=private_storage_connection_string,
    ) as app:
        yield app


@pytest.fixture
def browser() -> Iterator[Any]:
    assert CHROMIUM.is_file(), (
        f"{CHROMIUM} is missing: `./dev setup` installs it (apt-get install chromium)"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def output_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HAYMAKER_TEST_OUTPUT") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_dashboard_follows_a_live_run_and_renders_agent_text_as_text(
    dashboard_app: App, browser: Any, tmp_path: Path
):
    app = dashboard_app
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    # The clock held (App.hold_clock): the run stays live, its agents between operate
    # rounds, for as long as the page takes to show them working; then it runs its hour.
    with app.hold_clock("dashboard-test"):
        run_id = app.start_run({"count": 2})
        address = f"{app.host.api}/dashboard?code={app.host.function_key}"
        page.goto(address)

        # The key went into session storage and out of the address bar.
        page.wait_for_selector("#runs-table tbody tr")
        assert app.host.function_key not in page.url
        assert page.evaluate("sessionStorage.getItem('haymaker.key')") == app.host.function_key

        run_row = page.locator(f"#runs-table tr[data-run-id='{run_id}']")
        run_row.wait_for()
        run_row.click()
        agents = page.locator("#agents-table tbody tr")
        # Agents seen while they work, then seen done: the page refreshes on its own.
        page.wait_for_function(
            "() => [...document.querySelectorAll('#agents-table tbody tr')]"
            ".some(r => r.children[2].textContent === 'monitoring')",
            timeout=300_000,
        )
        assert agents.count() == 2
        assert page.locator("#run-title").text_content() == f"Run {run_id}: running"

        # Agent output is untrusted: plant markup in an event's text while the run is live.
        EventSender(app.connection, events_queue_name(run_id)).send(
            {"type": "error", "run_id": run_id, "agent_id": "a01", "message": PLANTED}
        )
        page.locator("#agents-table tr[data-agent-id='a01']").click()
        timeline = page.locator("#agent-timeline")
        timeline.wait_for()
        assert page.locator("#agent-timeline-title").text_content().startswith("Agent a01 (")
        assert "provisioning: " in page.locator("#agent-phases").text_content()

    page.wait_for_function(
        f"() => document.querySelector('#run-title').textContent === 'Run {run_id}: completed'",
        timeout=300_000,
    )
    assert {row.text_content() for row in agents.locator("td:nth-child(3)").all()} == {"done"}
    # What each agent did, as the run's report has it (its last event told it).
    report = app.get(f"runs/{run_id}/report").json()
    counts = ("rounds", "commands", "commands_failed")
    told = {r["agent_id"]: [str(r[name]) for name in counts] for r in report["agent_results"]}
    shown = page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('#agents-table tbody tr')]"
        ".map(r => [r.dataset.agentId, [4, 5, 6].map(i => r.children[i].textContent)]))"
    )
    assert shown == told and "-" not in str(shown)
    phases = page.locator("#agent-phases").text_content()
    assert "monitoring: " in phases and "tearing_down: " in phases
    assert page.locator("#agents-table .segment.phase-monitoring").count() == 2

    # The planted text shows as text, and nothing in it ran.
    planted = page.locator("#events-table td.text", has_text="<script>window.__planted")
    planted.wait_for(timeout=30_000)
    assert planted.first.text_content() == PLANTED
    assert page.evaluate("window.__planted") is None
    assert page.locator("#events-table img").count() == 0

    # Filters narrow the events to one agent and one phase.
    page.select_option("#event-agent", "a00")
    page.select_option("#event-phase", "cleanup")
    page.wait_for_function(
        "() => { const rows = [...document.querySelectorAll('#events-table tbody tr')];"
        " return rows.length > 0 && rows.every(r => r.children[1].textContent === 'a00'"
        " && r.children[2].textContent === 'cleanup'); }",
        timeout=120_000,
    )
    page.wait_for_function(
        "() => document.querySelector('#report').textContent"
        ".includes('Nothing tagged for this run is left.')",
        timeout=300_000,
    )
    assert page.locator("#catalog-table tbody tr").count() >= 10
    assert page.locator("#health-badge").text_content() == "healthy"

    shot = output_dir(tmp_path) / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"dashboard screenshot: {shot}")
    if os.environ.get("HAYMAKER_DASHBOARD_SCREENSHOT"):  # the README's picture: the first screen
        page.set_viewport_size({"width": 1400, "height": 1500})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=os.environ["HAYMAKER_DASHBOARD_SCREENSHOT"])


def test_the_dashboard_needs_the_function_key(dashboard_app: App):
    import requests

    page = requests.get(f"{dashboard_app.host.api}/dashboard", timeout=30)
    assert page.status_code == 401
    keyed = dashboard_app.get("dashboard")
    assert keyed.status_code == 200 and keyed.headers["Content-Type"].startswith("text/html")
    policy = keyed.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'nonce-" in policy
    assert "https://" not in keyed.text and "http://" not in keyed.text  # no CDN, nothing remote
