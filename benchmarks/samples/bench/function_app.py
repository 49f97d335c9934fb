"""The benchmark app: no-op work, so the figures measure the host, not the functions."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    results = yield context.task_all(
        [context.call_activity("noop", i) for i in range(context.get_input())]
    )
    return len(results)


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    for i in range(context.get_input()):
        yield context.call_activity("noop", i)
    return context.get_input()


@app.orchestration_trigger(context_name="context")
def collect_events(context: df.DurableOrchestrationContext):
    received = 0
    for _ in range(context.get_input()):
        yield context.wait_for_external_event("tick")
        received += 1
    return received


@app.orchestration_trigger(context_name="context")
def trivial(context: df.DurableOrchestrationContext):
    return context.get_input()


@app.activity_trigger(input_name="value")
def noop(value: int) -> int:
    return value
