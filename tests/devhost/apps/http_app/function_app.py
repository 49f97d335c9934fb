"""HTTP triggers for devhost's end-to-end tests: routes, methods, auth, responses."""

import json
import os

import azure.functions as func
from http_blueprint import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def describe(req: func.HttpRequest) -> dict:
    """Everything the function sees of the request the worker built."""
    body = req.get_body()
    try:
        parsed = req.get_json()
    except ValueError:
        parsed = None
    return {
        "method": req.method,
        "url": req.url,
        "route": dict(req.route_params),
        "query": dict(req.params),
        "header_trace": req.headers.get("x-test-trace"),
        "header_trace_mixed_case": req.headers.get("X-Test-TRACE"),
        "content_type": req.headers.get("content-type"),
        "body": body.decode("utf-8"),
        "json": parsed,
    }


@app.route(route="echo/{id:int}/{label?}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    """Sync function: returns what it saw as JSON."""
    return func.HttpResponse(json.dumps(describe(req)), mimetype="application/json")


@app.route(route="async-echo/{*rest}", methods=["PUT", "PATCH", "DELETE"])
async def async_echo(req: func.HttpRequest) -> func.HttpResponse:
    """Async function with a catch-all route."""
    return func.HttpResponse(json.dumps(describe(req)), mimetype="application/json")


@app.route(route="items/{id:int}", methods=["GET"])
def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"item #{req.route_params['id']}")


@app.route(route="items/{name:alpha}", methods=["GET"])
def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"item named {req.route_params['name']}")


@app.route(route="greet/{name=world}", methods=["GET"])
def greet(req: func.HttpRequest) -> str:
    # A plain str return value: the worker answers 200 text/plain.
    return f"{os.environ['GREETING']}, {req.route_params['name']}!"


@app.route(route="created", methods=["POST"])
def create(req: func.HttpRequest) -> func.HttpResponse:
    item = req.get_json()
    return func.HttpResponse(
        json.dumps({"created": item}),
        status_code=201,
        headers={"Location": "/api/items/7", "X-Devhost-Test": "created-header"},
        mimetype="application/json",
    )


@app.route(route="teapot", methods=["GET"])
async def teapot(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        "short and stout",
        status_code=418,
        headers={"X-Kind": "teapot", "Cache-Control": "no-store"},
    )


@app.route(route="no-content", methods=["DELETE"])
def no_content(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=204)


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("boom: this function fails on purpose")


@app.route(route="whoami", methods=["GET"])
def whoami(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {"invocation_id": context.invocation_id, "function_name": context.function_name}
        ),
        mimetype="application/json",
    )


@app.route(route="guarded", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def guarded(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("function-level ok")


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin-level ok")


app.register_functions(bp)
