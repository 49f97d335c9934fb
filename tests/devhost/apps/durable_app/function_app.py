"""Orchestrations for devhost's end-to-end tests, plus the client API blueprint."""

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from client_api import bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.orchestration_trigger(context_name="context")
def echo_orchestrator(context: df.DurableOrchestrationContext):
    """Calls one activity and returns its input and the activity's result."""
    value = context.get_input()
    shouted = yield context.call_activity("shout", value)
    return {"input": value, "shouted": shouted}


@app.orchestration_trigger(context_name="context")
def instant_orchestrator(context: df.DurableOrchestrationContext):
    """Returns its input: it finishes in its first episode."""
    return context.get_input()


@app.activity_trigger(input_name="value")
def shout(value):
    return None if value is None else str(value).upper()  # inputs in the tests are strings


@app.orchestration_trigger(context_name="context")
def approval_orchestrator(context: df.DurableOrchestrationContext):
    """Waits for an 'approval' event and returns its payload."""
    context.set_custom_status({"stage": "waiting for approval"})
    approval = yield context.wait_for_external_event("approval")
    context.set_custom_status({"stage": "approved"})
    return {"approval": approval}


@app.orchestration_trigger(context_name="context")
def sleeper(context: df.DurableOrchestrationContext):
    """Waits on a durable timer of `input` seconds (default one hour)."""
    seconds = context.get_input() or 3600
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    return {"slept": seconds}


@app.orchestration_trigger(context_name="context")
def failing_orchestrator(context: df.DurableOrchestrationContext):
    """Its activity raises, so the orchestration fails."""
    yield context.call_activity("explode", context.get_input())
    return "unreachable"


@app.activity_trigger(input_name="value")
def explode(value):
    raise RuntimeError(f"explode: this activity fails on purpose ({value})")
