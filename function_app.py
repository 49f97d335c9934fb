"""HayMaker's Azure Functions app: every trigger decorator lives here, and only here.

The Python worker indexes the app object in this file, so each function is declared here
as a thin wrapper that delegates (the upstream team lost an afternoon to "0 functions
found" when decorators lived in other modules). Grouped in the order a request flows:
HTTP and timers, then orchestrations, then activities. The expected list is in
expected_functions.json; a test indexes this file as the worker does and compares.
"""

import azure.durable_functions as df
import azure.functions as func

from activities import agent_steps, run_steps, sweep_steps
from activities.cancel_agents import cancel_agents as cancel_agent_orchestrations
from orchestrations.agent import agent_orchestrator as agent_lifecycle
from orchestrations.run import run_orchestrator as run_lifecycle
from orchestrations.sweep import sweep_orchestrator as sweep_lifecycle
from starters import dashboard, metrics, runs, schedules
from starters.responses import answer

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# -- HTTP API -------------------------------------------------------------------------


@app.route(route="runs", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await answer(runs.start_run, req, client)


@app.route(route="runs", methods=["GET"])
async def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.list_runs, req)


@app.route(route="runs/{run_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await answer(runs.get_run, req, client)


@app.route(route="runs/{run_id}/agents", methods=["GET"])
async def get_run_agents(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.get_run_agents, req)


@app.route(route="runs/{run_id}/resources", methods=["GET"])
async def get_run_resources(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.get_run_resources, req)


@app.route(route="runs/{run_id}/events", methods=["GET"])
async def get_run_events(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.get_run_events, req)


@app.route(route="runs/{run_id}/report", methods=["GET"])
async def get_run_report(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.get_run_report, req)


@app.route(route="runs/{run_id}/cancel", methods=["POST"])
@app.durable_client_input(client_name="client")
async def cancel_run(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await answer(runs.cancel_run, req, client)


@app.route(route="sweeps", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_sweep(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    return await answer(runs.start_sweep, req, client)


@app.route(route="scenarios", methods=["GET"])
async def list_scenarios(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.list_scenarios, req)


@app.route(route="scenarios/{scenario_id}", methods=["GET"])
async def get_scenario(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.get_scenario, req)


@app.route(route="health", methods=["GET"])
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(runs.health, req)


@app.route(route="metrics", methods=["GET"])
async def get_metrics(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(metrics.get_metrics, req)


@app.route(route="dashboard", methods=["GET"])
async def get_dashboard(req: func.HttpRequest) -> func.HttpResponse:
    return await answer(dashboard.get_dashboard, req)


# -- Timers: one run per regional window, and the hourly orphan sweep --------------------


@app.timer_trigger(schedule="%HAYMAKER_SCHEDULE_AMERICAS%", arg_name="timer")
@app.durable_client_input(client_name="client")
async def window_americas(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await schedules.start_window_run("americas", timer, client)


@app.timer_trigger(schedule="%HAYMAKER_SCHEDULE_ASIA%", arg_name="timer")
@app.durable_client_input(client_name="client")
async def window_asia(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await schedules.start_window_run("asia", timer, client)


@app.timer_trigger(schedule="%HAYMAKER_SCHEDULE_MIDDLE_EAST%", arg_name="timer")
@app.durable_client_input(client_name="client")
async def window_middle_east(
    timer: func.TimerRequest, client: df.DurableOrchestrationClient
) -> None:
    await schedules.start_window_run("middle_east", timer, client)


@app.timer_trigger(schedule="%HAYMAKER_SCHEDULE_EUROPE%", arg_name="timer")
@app.durable_client_input(client_name="client")
async def window_europe(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await schedules.start_window_run("europe", timer, client)


@app.timer_trigger(schedule="%HAYMAKER_SWEEP_SCHEDULE%", arg_name="timer")
@app.durable_client_input(client_name="client")
async def hourly_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    await schedules.start_sweep(timer, client)


# -- Orchestrations -------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def run_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return run_lifecycle(context)


@app.orchestration_trigger(context_name="context")
def agent_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return agent_lifecycle(context)


@app.orchestration_trigger(context_name="context")
def sweep_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    return sweep_lifecycle(context)


# -- Activities -----------------------------------------------------------------------


@app.activity_trigger(input_name="payload")
def begin_run(payload: dict) -> dict:
    return run_steps.begin_run(payload)


@app.activity_trigger(input_name="payload")
def run_progress(payload: dict) -> dict:
    return run_steps.run_progress(payload)


@app.activity_trigger(input_name="payload")
def finalize_run(payload: dict) -> dict:
    return run_steps.finalize_run(payload)


@app.activity_trigger(input_name="payload")
def provision_identity(payload: dict) -> dict:
    return agent_steps.provision_identity(payload)


@app.activity_trigger(input_name="payload")
def launch_agent(payload: dict) -> dict:
    return agent_steps.launch_agent(payload)


@app.activity_trigger(input_name="payload")
def poll_agent(payload: dict) -> dict:
    return agent_steps.poll_agent(payload)


@app.activity_trigger(input_name="payload")
def stop_agent(payload: dict) -> dict:
    return agent_steps.stop_agent(payload)


@app.activity_trigger(input_name="payload")
def remove_resources(payload: dict) -> dict:
    return agent_steps.remove_resources(payload)


@app.activity_trigger(input_name="payload")
def remove_identity(payload: dict) -> dict:
    return agent_steps.remove_identity(payload)


@app.activity_trigger(input_name="payload")
def verify_teardown(payload: dict) -> dict:
    return agent_steps.verify_teardown(payload)


@app.activity_trigger(input_name="payload")
@app.durable_client_input(client_name="client")
async def cancel_agents(payload: dict, client: df.DurableOrchestrationClient) -> dict:
    return await cancel_agent_orchestrations(payload, client)


@app.activity_trigger(input_name="payload")
def find_orphans(payload: dict) -> dict:
    return sweep_steps.find_orphans(payload)


@app.activity_trigger(input_name="payload")
def remove_orphans(payload: dict) -> dict:
    return sweep_steps.remove_orphans(payload)
