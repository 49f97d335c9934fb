"""A queue trigger for devhost's end-to-end tests: every message it sees is recorded."""

import json
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()

SEEN = Path(__file__).resolve().parent / ".devhost" / "seen.jsonl"


def _time(value):
    return value.isoformat() if value is not None else None


@app.queue_trigger(arg_name="msg", queue_name="%ORDERS_QUEUE%", connection="OrdersStorage")
def take_order(msg: func.QueueMessage) -> None:
    body = msg.get_body().decode()
    record = {
        "id": msg.id,
        "body": body,
        "dequeue_count": msg.dequeue_count,
        "insertion_time": _time(msg.insertion_time),
        "expiration_time": _time(msg.expiration_time),
        "time_next_visible": _time(msg.time_next_visible),
        "has_pop_receipt": bool(msg.pop_receipt),
    }
    SEEN.parent.mkdir(exist_ok=True)
    with SEEN.open("a") as seen:
        seen.write(json.dumps(record) + "\n")
    if body.startswith("poison"):
        raise RuntimeError(f"cannot take order {body!r}")
