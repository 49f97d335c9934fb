"""Timer triggers for devhost's end-to-end tests.

Every firing writes one row to the table named by the RECORD_TABLE setting (in the
storage account RECORD_CONNECTION points at), so a test can count firings and see the
schedule status and past-due flag each one was handed. `held` waits, after recording,
until a row with PartitionKey "release" exists: a test can kill the host mid-firing.
`sleeper` waits on a durable timer: with the virtual clock that is what moves time forward.
"""

import os
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from azure.data.tables import TableServiceClient

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def records_table():
    service = TableServiceClient.from_connection_string(os.environ["RECORD_CONNECTION"])
    return service.create_table_if_not_exists(os.environ["RECORD_TABLE"])


def record(function_name: str, timer: func.TimerRequest) -> None:
    status = timer.schedule_status
    records_table().create_entity(
        {
            "PartitionKey": function_name,
            # Firing order: nanoseconds since the epoch, zero-padded to sort as text.
            "RowKey": f"{time.time_ns():020d}",
            "HasStatus": bool(status),
            "Last": (status or {}).get("Last"),
            "Next": (status or {}).get("Next"),
            "LastUpdated": (status or {}).get("LastUpdated"),
            "PastDue": bool(timer.past_due),
        }
    )


@app.timer_trigger(arg_name="timer", schedule="0 0 * * * *")
def hourly(timer: func.TimerRequest) -> None:
    """Six-field NCRONTAB: second 0 of minute 0 of every hour."""
    record("hourly", timer)


@app.timer_trigger(arg_name="timer", schedule="%TICK_SCHEDULE%")
def ticker(timer: func.TimerRequest) -> None:
    """Schedule from the TICK_SCHEDULE app setting (every second in local.settings.json)."""
    record("ticker", timer)


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=True)
def at_startup(timer: func.TimerRequest) -> None:
    """Once a year, and whenever the host starts."""
    record("at_startup", timer)


@app.timer_trigger(arg_name="timer", schedule="%HELD_SCHEDULE%")
def held(timer: func.TimerRequest) -> None:
    """Records its firing, then waits (up to two minutes) for the test to release it."""
    record("held", timer)
    table = records_table()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if list(table.query_entities("PartitionKey eq 'release'")):
            return
        time.sleep(0.1)


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    return {"slept": seconds}
