"""Orchestrations that exercise every Durable feature devhost must run."""

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
# Activities record each run here, so tests can count executions across host restarts.
RUN_LOG = Path(os.environ.get("DURABLE_TEST_RUN_LOG", "/tmp/durable-test-runs.log"))


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    values = context.get_input() or ["a", "b", "c"]
    results = []
    for value in values:
        results.append((yield context.call_activity("upper", value)))
        results.append((yield context.call_activity("upper_async", value)))
    return results


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_activity("square", i) for i in range(count)]
    results = yield context.task_all(tasks)
    return sum(results)


@app.orchestration_trigger(context_name="context")
def fan_out_recorded(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_activity("slow_record", i) for i in range(count)]
    results = yield context.task_all(tasks)
    return sum(results)


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    """Wait for an 'approve' event or give up after the timeout (a timer raced with it)."""
    timeout = context.get_input() or 3600
    deadline = context.current_utc_datetime + timedelta(seconds=timeout)
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("approve")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": True, "by": event.result}
    return {"approved": False}


@app.orchestration_trigger(context_name="context")
def events_in_order(context: df.DurableOrchestrationContext):
    names = []
    for _ in range(context.get_input()):
        names.append((yield context.wait_for_external_event("item")))
    return names


@app.orchestration_trigger(context_name="context")
def flaky_with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=4)
    result = yield context.call_activity_with_retry("flaky", options, context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    first = yield context.call_sub_orchestrator("sequence", ["x"])
    second = yield context.call_sub_orchestrator(
        "sequence", ["y"], instance_id=f"{context.instance_id}-child"
    )
    options = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
    third = yield context.call_sub_orchestrator_with_retry(
        "flaky_orchestrator", options, context.get_input()
    )
    return {"first": first, "second": second, "third": third}


@app.orchestration_trigger(context_name="context")
def flaky_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("flaky", context.get_input()))


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    state = context.get_input() or {"n": 0, "limit": 5}
    state["n"] += 1
    context.set_custom_status({"n": state["n"]})
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    if state["n"] < state["limit"]:
        context.continue_as_new(state)
        return None
    return state["n"]


@app.orchestration_trigger(context_name="context")
def long_wait(context: df.DurableOrchestrationContext):
    """Eight hours of 15-minute polls: with the virtual clock this takes seconds."""
    start = context.current_utc_datetime
    polls = 0
    while context.current_utc_datetime < start + timedelta(hours=8):
        yield context.create_timer(context.current_utc_datetime + timedelta(minutes=15))
        polls += 1
        context.set_custom_status({"polls": polls})
    elapsed = context.current_utc_datetime - start
    return {"polls": polls, "elapsed_hours": elapsed.total_seconds() / 3600}


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("upper", "ok")
    raise ValueError("the orchestrator gave up on purpose")


@app.orchestration_trigger(context_name="context")
def calls_missing_activity(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("no_such_activity", 1))


@app.orchestration_trigger(context_name="context")
def calls_missing_orchestrator(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("no_such_orchestrator", 1))


@app.orchestration_trigger(context_name="context")
def activity_error_caught(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("explode", "boom")
    except Exception as error:
        return f"caught: {error}"
    return "not reached"


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(days=1))
    return "woke"


@app.activity_trigger(input_name="value")
def upper(value: str) -> str:
    return value.upper()


@app.activity_trigger(input_name="value")
async def upper_async(value: str) -> str:
    await asyncio.sleep(0)
    return value.upper() + "!"


@app.activity_trigger(input_name="value")
def square(value: int) -> int:
    return value * value


@app.activity_trigger(input_name="value")
async def slow_record(value: int) -> int:
    """Finishes after 0-2 s depending on the value, so a fan-out completes gradually."""
    await asyncio.sleep(0.04 * (value % 50))
    with RUN_LOG.open("a") as log:
        log.write(f"{value}\n")
    return value


_attempts: dict[str, int] = {}


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    """Fails the first two times it is called with a key, then succeeds."""
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise RuntimeError(f"attempt {_attempts[key]} failed")
    return f"{key} after {_attempts[key]} attempts"


@app.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise RuntimeError(message)


@app.orchestration_trigger(context_name="context")
def echo_large(context: df.DurableOrchestrationContext):
    """Passes a large payload through an activity: inputs and results over table limits."""
    payload = context.get_input()
    echoed = yield context.call_activity("echo", payload)
    return {"length": len(echoed), "tail": echoed[-10:], "payload": echoed}


@app.activity_trigger(input_name="value")
def echo(value: str) -> str:
    return value
