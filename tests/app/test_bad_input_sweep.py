"""Bad input on every route: no answer of 500 or more, and every 400 names the parameter.

The routes are not listed here: the app's are the HTTP functions indexed from
function_app.py (a new route is swept as soon as it exists), the management API's are
the routes devhost serves. Each gets curated bad input (what broke before: deep JSON,
5,000-digit numbers, times that leave the calendar in UTC, ids with characters storage
refuses, forged paging tokens) and then input drawn by hypothesis: any text in any
parameter, arbitrary JSON and bytes in bodies.

The host runs on an Azurite of its own: a request that happens to be valid may start a
sweep, which must not touch other tests' storage. Requests that could start a run carry
one fixed run id, so at most one run ever starts.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost import azurite
from devhost.indexer import HTTP, index_app
from devhost.management import WEBHOOK_PREFIX, ManagementApi
from tests.app.helpers import APP_DIR, App, app_host, transiently_unavailable

pytestmark = pytest.mark.slow

RUN_ID = "sweep-fixed-run"
ROUTE_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# Query parameters any /api route may read, and values that broke or could break them.
APP_QUERY = ("limit", "continuation", "status", "created_from", "created_to", "agent", "deep")
BAD_VALUES = [
    "",
    "-1",
    "0",
    "9" * 5000,
    "1e309",
    "nan",
    "x" * 3000,  # long, but inside the 8 KiB request line servers (and Kestrel) take
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+01:00",
    "a/b",
    "a#b",
    "\x00",
    "\u2028",
    "٣",  # a digit int() accepts, in another script
    "eyJQYXJ0aXRpb25LZXkiOiAxfQ==",  # a token of the right shape, the wrong content
    "LTU=",
]
WORST_VALUES = ["9999-12-31T23:59:59-23:59", "\x00", "eyJQYXJ0aXRpb25LZXkiOiAxfQ=="]
BAD_RUN_IDS = ["a/b", "a#b", "a?b", "x" * 300, "%00", "..", "\u0394", "run-does-not-exist"]
# The only body that could start a run, and it names the run that exists already.
FIXED_RUN_BODY = json.dumps({"run_id": RUN_ID}).encode()
BAD_BODIES: list[bytes] = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    b'{"count": ' + b"9" * 5000 + b"}",
    b'{"count": 1e400}',
    b"\xff\xfe\x00",
    b'{"a": ',
    b"[]",
    b'"text"',
    b"null",
    b'{"dry_run": "yes"}',
    b'{"unknown_field": 1}',
    b'{"scenarios": [[[]]]}',
    b'{"duration": "P' + b"9" * 400 + b'D"}',
]
# Management API: the names its 400s use for each part of the request.
MGMT_QUERY = (
    "createdTimeFrom",
    "createdTimeTo",
    "runtimeStatus",
    "instanceIdPrefix",
    "showInput",
    "showHistory",
    "showHistoryOutput",
    "returnInternalServerErrorOnFailure",
    "top",
    "timeout",
    "restartWithNewInstanceId",
    "reason",
)
MGMT_PATH_NAMES = {
    "name": "function",
    "instance_id": "instanceId",
    "event_name": "eventName",
    "operation": "operation",
}
MGMT_BODY_NAMES = ("input", "eventData")
CONTINUATION = "x-ms-continuation-token"
REQUIRED_QUERY = ("createdTimeFrom",)  # a purge of many instances must name a start
ORCHESTRATORS = ["sweep_orchestrator", "run_orchestrator", "no_such_orchestrator"]
BAD_INSTANCE_IDS = ["a#b", "a/b", "a\\b", "a\x00b", "a?b", "a\x01b", "x" * 300, "@entity"]
# A valid id no instance has (the run's own instance is left alone: no restarts of it).
MISSING_INSTANCE = "no-such-instance"
OPERATIONS = ["terminate", "suspend", "resume", "restart", "rewind", "explode"]


@dataclass
class Route:
    method: str
    path: str  # with {param} placeholders
    params: list[str] = field(default_factory=list)


def app_routes() -> list[Route]:
    """Every HTTP route of the app, as the Python worker indexes function_app.py."""
    found = []
    for function in index_app(APP_DIR):
        if function.trigger_type != HTTP:
            continue
        for method in function.methods or ["GET", "POST"]:
            found.append(Route(method, function.route, ROUTE_PARAM.findall(function.route)))
    return found


def management_routes() -> list[Route]:
    """Every route of devhost's Durable management API."""
    api = ManagementApi(lambda: None, None, None, rpc=False)  # type: ignore[arg-type, return-value]
    found = []
    for definition in api.routes(WEBHOOK_PREFIX):
        path = definition.path[len(WEBHOOK_PREFIX) + 1 :]
        found.append(Route(definition.method, path, ROUTE_PARAM.findall(path)))
    return found


APP_ROUTES = app_routes()
MGMT_ROUTES = management_routes()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    folder = tmp_path_factory.mktemp("sweep")
    storage = azurite.start_on_free_ports(folder / "azurite", APP_DIR)
    connection = storage.connection_string()
    try:
        with app_host(folder, connection, AzureWebJobsStorage=connection) as host:
            # One real run, so routes about a run also see one that exists.
            host.start_run({"count": 1, "duration": "PT10M", "run_id": RUN_ID})
            host.wait_for_run(RUN_ID)
            yield host
            # Input that was valid after all started runs too (of up to 50 agents): they
            # end with the host's (app_host cancels them and removes their agents), not
            # live on past this storage, their agents retrying it for minutes.
            host.runs.extend(run for run in runs_on(host) if run not in host.runs)
    finally:
        storage.stop()


def runs_on(host: App) -> list[str]:
    """Every run the host's storage holds (this module's own Azurite: all are ours)."""
    found: list[str] = []
    continuation = None
    while True:
        page: dict[str, str] = {"continuation": continuation} if continuation else {}
        answer = host.get("runs", limit="200", **page).json()
        found += [run["run_id"] for run in answer["runs"]]
        continuation = answer["continuation"]
        if not continuation:
            return found


# -- asking ----------------------------------------------------------------------------


def call_app(
    app: App,
    route: Route,
    path_values: dict[str, str],
    query: dict[str, str],
    body: bytes | None,
) -> requests.Response:
    path = route.path
    for name, value in path_values.items():
        path = re.sub(r"\{" + name + r"(?::[^}]*)?\}", quote(value, safe=""), path)
    return patiently(
        lambda: requests.request(
            route.method,
            f"{app.host.api}/{path}",
            params={"code": app.host.function_key, **query},
            data=body,
            timeout=60,
        )
    )


def check_app_answer(
    response: requests.Response,
    query: dict[str, str],
    path_values: dict[str, str],
    body: bytes | None,
) -> None:
    context = (response.request.method, str(response.request.url)[:300], (body or b"")[:200])
    assert response.status_code < 500, (response.status_code, response.text[:500], context)
    if response.status_code < 400:
        return
    if response.status_code == 404 and "No function matches" in response.text:
        return  # an id with "/" in it: devhost finds no route (as the Functions host)
    kind = response.headers.get("Content-Type", "")
    assert kind.startswith("application/json"), (response.status_code, response.text, context)
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"} and error["message"], (error, context)
    if response.status_code == 400:
        named = {"body", *query, *path_values, *body_fields(body)}
        # (A field can be named "": a JSON key may be empty.)
        assert error["field"] is not None, (error, context)
        assert error["field"].split("[")[0] in named, (error, context)


def body_fields(body: bytes | None) -> list[str]:
    try:
        value = json.loads(body or b"")
    except (ValueError, RecursionError):
        return []
    return [str(key)[:80] for key in value] if isinstance(value, dict) else []


def call_management(
    app: App,
    route: Route,
    path_values: dict[str, str],
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes | None,
) -> requests.Response:
    path = route.path
    for name, value in path_values.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return patiently(
        lambda: requests.request(
            route.method,
            f"{app.host.management}/{path}",
            params={"code": app.host.system_key, **query},
            headers=headers,
            data=body,
            timeout=60,
        )
    )


def patiently(send: Callable[[], requests.Response]) -> requests.Response:
    """Send again (as a client honouring Retry-After would) while the answer is a 503 for
    storage too slow on a loaded machine: that is no answer to the input yet."""
    for _ in range(5):
        response = send()
        slow_storage = response.status_code == 503 and (
            transiently_unavailable(response) or "storage is unavailable" in response.text
        )
        if not slow_storage:
            break
        time.sleep(2)
    return response


def check_management_answer(
    response: requests.Response,
    query: dict[str, str],
    path_values: dict[str, str],
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    context = (
        response.request.method,
        str(response.request.url)[:300],
        headers,
        (body or b"")[:200],
    )
    assert response.status_code < 500 or _rewind_of_failed(response), (
        response.status_code,
        response.text[:500],
        context,
    )
    if response.status_code != 400:
        return
    message = response.json()["Message"]
    named = [
        *REQUIRED_QUERY,
        *query,
        *headers,
        *(MGMT_PATH_NAMES[name] for name in path_values),
        *(MGMT_BODY_NAMES if body else ()),
    ]
    assert any(name in message for name in named), (message, context)


def _rewind_of_failed(response: requests.Response) -> bool:
    """devhost cannot rewind (501), which is not bad input: only a failed instance gets it."""
    return response.status_code == 501 and "/rewind" in str(response.request.url)


def bad_queries(names: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Each bad value in every parameter at once, then the worst ones one parameter at a
    time (so a parameter checked late is not always hidden behind an earlier refusal)."""
    short = [value for value in BAD_VALUES if len(value) <= 100]
    for value in short:
        yield dict.fromkeys(names, value)
    for name in names:
        for value in [*WORST_VALUES, *(value for value in BAD_VALUES if value not in short)]:
            yield {name: value}


# -- curated -------------------------------------------------------------------------------


@pytest.mark.parametrize("route", APP_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_curated_bad_input_on_every_app_route(app: App, route: Route) -> None:
    body = FIXED_RUN_BODY if route.method == "POST" else None
    for run_id in BAD_RUN_IDS if route.params else []:
        path_values = dict.fromkeys(route.params, run_id)
        check_app_answer(call_app(app, route, path_values, {}, body), {}, path_values, body)
    path_values = dict.fromkeys(route.params, RUN_ID)
    for query in bad_queries(APP_QUERY):
        check_app_answer(call_app(app, route, path_values, query, body), query, path_values, body)
    if route.method == "POST":
        for bad in BAD_BODIES:
            check_app_answer(call_app(app, route, path_values, {}, bad), {}, path_values, bad)


@pytest.mark.parametrize("route", MGMT_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_curated_bad_input_on_every_management_route(app: App, route: Route) -> None:
    for bad in BAD_INSTANCE_IDS:
        path_values = {p: _path_value(p, bad) for p in route.params}
        response = call_management(app, route, path_values, {}, {}, None)
        check_management_answer(response, {}, path_values, {}, None)
    path_values = {p: _path_value(p, MISSING_INSTANCE) for p in route.params}
    for query in bad_queries(MGMT_QUERY):
        response = call_management(app, route, path_values, query, {}, None)
        check_management_answer(response, query, path_values, {}, None)
    for token in ("garbage!!", "LTU=", "YWJj", "9" * 100):
        headers = {CONTINUATION: token}
        response = call_management(app, route, path_values, {}, headers, None)
        check_management_answer(response, {}, path_values, headers, None)
    if route.method == "POST":
        for body in BAD_BODIES:
            response = call_management(app, route, path_values, {}, {}, body)
            check_management_answer(response, {}, path_values, {}, body)


def _path_value(param: str, instance_id: str) -> str:
    if param == "name":
        return "no_such_orchestrator"
    if param == "operation":
        return "terminate"
    if param == "event_name":
        return "go"
    return instance_id


# -- generated -----------------------------------------------------------------------------

SWEEP = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples in every run: a failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Short enough that three of them fit in a request line (servers refuse lines over 8 KiB).
texts = st.one_of(st.text(max_size=40), st.sampled_from([v for v in BAD_VALUES if len(v) < 100]))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def app_bodies(draw: st.DrawFn) -> bytes:
    """Bytes, or JSON; an object always names the fixed run, so no other run can start."""
    kind = draw(st.sampled_from(["bytes", "json", "fields"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64) | st.sampled_from(BAD_BODIES))
    value = draw(json_values)
    if kind == "fields":
        known = ["size", "count", "scenarios", "duration", "poll_interval", "region", "dry_run"]
        names = st.sampled_from(known) | st.text(max_size=8)
        value = draw(st.dictionaries(names, json_values, max_size=4))
    if isinstance(value, dict):
        value["run_id"] = RUN_ID
    return json.dumps(value).encode()


@given(data=st.data())
@SWEEP
def test_generated_bad_input_on_the_app_api(app: App, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(APP_ROUTES))
    ids = st.sampled_from([RUN_ID, *BAD_RUN_IDS]) | st.text(min_size=1, max_size=20)
    path_values = {param: data.draw(ids) for param in route.params}
    names = st.sampled_from(APP_QUERY) | st.text(min_size=1, max_size=8)
    query = data.draw(st.dictionaries(names, texts, max_size=3))
    body = data.draw(app_bodies()) if route.method == "POST" else None
    response = call_app(app, route, path_values, query, body)
    check_app_answer(response, query, path_values, body)


@given(data=st.data())
@SWEEP
def test_generated_bad_input_on_the_management_api(app: App, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(MGMT_ROUTES))
    choices = {
        "name": st.sampled_from(ORCHESTRATORS) | st.text(min_size=1, max_size=20),
        "operation": st.sampled_from(OPERATIONS),
    }
    ids = st.sampled_from([MISSING_INSTANCE, *BAD_INSTANCE_IDS]) | st.text(min_size=1, max_size=30)
    path_values = {p: data.draw(choices.get(p, ids)) for p in route.params}
    query = data.draw(st.dictionaries(st.sampled_from(MGMT_QUERY), texts, max_size=3))
    tokens = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20)
    headers = data.draw(st.dictionaries(st.just(CONTINUATION), tokens, max_size=1))
    bodies = st.none() | st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode())
    body = data.draw(bodies) if route.method == "POST" else None
    response = call_management(app, route, path_values, query, headers, body)
    check_management_answer(response, query, path_values, headers, body)
