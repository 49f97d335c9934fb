"""The benchmark app: next to no work per function, so the figures measure the host; but
every workload returns a value that proves each step ran once, in its place.

- fan_out(n): the sum of squares 0..n-1, one activity per square;
- sequence(n): an accumulator threaded through n activities in order (a skipped,
  repeated or reordered step gives another number);
- collect_events(n): the payloads of n `tick` events, in the order received;
- trivial(x): x.
"""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

# The sequence's accumulator stays below this (a prime), so it never grows unbounded.
MODULUS = 1_000_000_007


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    squares = yield context.task_all(
        [context.call_activity("square", i) for i in range(context.get_input())]
    )
    return sum(squares)


@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    accumulator = 0
    for i in range(context.get_input()):
        accumulator = yield context.call_activity("mix", [accumulator, i])
    return accumulator


@app.orchestration_trigger(context_name="context")
def collect_events(context: df.DurableOrchestrationContext):
    received = []
    for _ in range(context.get_input()):
        payload = yield context.wait_for_external_event("tick")
        received.append(payload)
    return received


@app.orchestration_trigger(context_name="context")
def trivial(context: df.DurableOrchestrationContext):
    return context.get_input()


@app.activity_trigger(input_name="value")
def square(value: int) -> int:
    return value * value


@app.activity_trigger(input_name="pair")
def mix(pair: list) -> int:
    accumulator, step = pair
    return (accumulator * 31 + step + 1) % MODULUS
