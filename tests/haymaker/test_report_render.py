"""The report `./dev run` prints: columns that stay apart whatever the scenario ids, and
what each agent did (operate rounds, commands, failed commands) or `-` when it never said."""

from __future__ import annotations

from haymaker.progress import render_report


def test_a_long_scenario_id_does_not_run_into_its_outcome() -> None:
    long_id = "networking-private-endpoint-storage-with-a-longer-name"
    report = {
        "run_id": "run-20261201-210936-3c2374",
        "status": "completed",
        "agents": 2,
        "torn_down": 2,
        "left_behind": 0,
        "agent_results": [
            {
                "agent_id": "a00",
                "scenario_id": long_id,
                "outcome": "finished",
                "clean": True,
                "rounds": 96,
                "commands": 442,
                "commands_failed": 3,
            },
            {
                "agent_id": "a01",
                "scenario_id": "web-apps-storefront",
                "outcome": "cut_short",
                "clean": False,
            },
        ],
    }
    lines = render_report(report, [], 12.5).splitlines()
    header = next(line for line in lines if line.split()[:2] == ["agent", "scenario"])
    rows = [line for line in lines if line.strip().startswith(("a00", "a01"))]
    assert [row.split() for row in rows] == [
        ["a00", long_id, "finished", "96", "442", "3", "yes"],
        ["a01", "web-apps-storefront", "cut_short", "-", "-", "-", "NO"],
    ]
    # The outcome column starts at the same place in the header and in every row.
    column = header.index("outcome")
    assert rows[0][column:].startswith("finished") and rows[1][column:].startswith("cut_short")
    # The counts are right-aligned under their headers.
    for name, value in (("rounds", "96"), ("commands", "442"), ("failed", "3")):
        end = header.index(name) + len(name)
        assert rows[0][:end].endswith(value) and rows[1][:end].endswith("-")


def test_the_main_job_benchmark_reads_each_agents_outcome_from_the_report() -> None:
    """benchmarks/main_job.py counts the agents that finished from this report: when the
    report grew its rounds and commands columns, it counted none, and printed every run
    `0/5 agents finished ... MISSED`."""
    from benchmarks.main_job import AGENT_ROW

    report = {
        "run_id": "run-20261201-210936-3c2374",
        "status": "completed",
        "agents": 3,
        "torn_down": 3,
        "left_behind": 0,
        "agent_results": [
            {"agent_id": "a00", "scenario_id": "s-one", "outcome": "finished", "clean": True}
            | {"rounds": 96, "commands": 442, "commands_failed": 0},
            {"agent_id": "a01", "scenario_id": "s-two", "outcome": "deadline", "clean": True},
            {"agent_id": "a02", "scenario_id": "s-three", "outcome": "finished", "clean": False}
            | {"rounds": 12, "commands": 60, "commands_failed": 2},
        ],
    }
    rows = AGENT_ROW.findall(render_report(report, [], 12.5))
    assert [(agent, outcome, torn) for agent, _, outcome, torn in rows] == [
        ("a00", "finished", "yes"),
        ("a01", "deadline", "yes"),
        ("a02", "finished", "NO"),
    ]
