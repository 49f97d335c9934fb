"""The benchmark app for Restate, the same work as benchmarks/samples/bench: an activity
is a call to a handler of the `Steps` service (a durable RPC: its own invocation, its
result journaled in the caller's, as an activity's is in the orchestration's history).

- Bench/fan_out(n): the sum of squares 0..n-1, one `Steps/square` call per square, all
  in flight at once;
- Bench/sequence(n): an accumulator threaded through n `Steps/mix` calls in order;
- Inbox/{key}/tick(payload): one event into a keyed instance (a virtual object, whose
  calls Restate runs one at a time in the order it accepted them); Inbox/{key}/received
  lists them in the order received;
- Trivial/{key}/run(x): x, as a workflow (one run per key, like an instance id).

Served with `hypercorn benchmarks.compare.restate_app:app` (HTTP/2 cleartext), in the
benchmark's own environment (.venv-bench), never in the app's.
"""

import restate

MODULUS = 1_000_000_007

steps = restate.Service("Steps")
bench = restate.Service("Bench")
inbox = restate.VirtualObject("Inbox")
trivial = restate.Workflow("Trivial")


@steps.handler()
async def square(ctx: restate.Context, value: int) -> int:
    return value * value


@steps.handler()
async def mix(ctx: restate.Context, pair: list[int]) -> int:
    accumulator, step = pair
    return (accumulator * 31 + step + 1) % MODULUS


@bench.handler()
async def fan_out(ctx: restate.Context, size: int) -> int:
    calls = [ctx.service_call(square, arg=i) for i in range(size)]
    await restate.gather(*calls)
    return sum([await call for call in calls])


@bench.handler()
async def sequence(ctx: restate.Context, size: int) -> int:
    accumulator = 0
    for i in range(size):
        accumulator = await ctx.service_call(mix, arg=[accumulator, i])
    return accumulator


@inbox.handler()
async def tick(ctx: restate.ObjectContext, payload: list[int]) -> None:
    received = await ctx.get("received") or []
    received.append(payload)
    ctx.set("received", received)


@inbox.handler()
async def received(ctx: restate.ObjectContext) -> list[list[int]]:
    return await ctx.get("received") or []


@trivial.main()
async def run(ctx: restate.WorkflowContext, value: int) -> int:
    return value


app = restate.app(services=[steps, bench, inbox, trivial])
