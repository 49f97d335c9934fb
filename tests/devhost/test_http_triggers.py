"""HTTP triggers end to end: a real devhost process on Azurite, driven with `requests`."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devhost.testing import HostHandle
from tests.devhost.helpers import app_host, new_hub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(
    storage_connection_string: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostHandle]:
    with app_host("http_app", tmp_path_factory.mktemp("http"), hub=new_hub()) as handle:
        yield handle


# -- routes, methods, request and response ---------------------------------------------


def test_route_parameters_query_headers_and_body_reach_the_function(host: HostHandle) -> None:
    response = requests.post(
        f"{host.api}/echo/42/first",
        params={"x": "1", "y": "two words"},
        headers={"X-Test-Trace": "trace-123"},
        json={"answer": 42},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["route"] == {"id": "42", "label": "first"}
    assert seen["query"] == {"x": "1", "y": "two words"}
    assert seen["header_trace"] == "trace-123"
    # HttpRequest headers are case-insensitive, as the worker builds them.
    assert seen["header_trace_mixed_case"] == "trace-123"
    assert seen["content_type"] == "application/json"
    assert json.loads(seen["body"]) == {"answer": 42}
    assert seen["json"] == {"answer": 42}
    assert seen["url"].startswith(f"{host.api}/echo/42/first?")


def test_optional_parameter_may_be_omitted_and_default_values_apply(host: HostHandle) -> None:
    without_label = requests.get(f"{host.api}/echo/7", timeout=10)
    assert without_label.status_code == 200
    assert without_label.json()["route"] == {"id": "7"}

    default = requests.get(f"{host.api}/greet", timeout=10)
    named = requests.get(f"{host.api}/greet/Ada", timeout=10)
    # A plain str return value is a 200 text/plain response; GREETING comes from Values.
    assert (default.status_code, default.text) == (200, "Hello, world!")
    assert default.headers["Content-Type"].startswith("text/plain")
    assert (named.status_code, named.text) == (200, "Hello, Ada!")


def test_route_constraints_choose_the_function_or_answer_404(host: HostHandle) -> None:
    by_id = requests.get(f"{host.api}/items/12", timeout=10)
    by_name = requests.get(f"{host.api}/items/widget", timeout=10)
    neither = requests.get(f"{host.api}/items/w1dget", timeout=10)
    not_an_int = requests.get(f"{host.api}/echo/seven", timeout=10)

    assert (by_id.status_code, by_id.text) == (200, "item #12")
    assert (by_name.status_code, by_name.text) == (200, "item named widget")
    assert neither.status_code == 404
    assert not_an_int.status_code == 404


def test_async_function_with_catch_all_route_gets_raw_body(host: HostHandle) -> None:
    response = requests.put(f"{host.api}/async-echo/a/b/c.txt", data=b"raw bytes", timeout=10)

    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["route"] == {"rest": "a/b/c.txt"}
    assert seen["body"] == "raw bytes"
    assert seen["json"] is None


def test_wrong_method_is_405_and_unknown_path_is_404(host: HostHandle) -> None:
    wrong_method = requests.post(f"{host.api}/items/1", timeout=10)
    wrong_method_catch_all = requests.get(f"{host.api}/async-echo/x", timeout=10)
    unknown = requests.get(f"{host.api}/no/such/function", timeout=10)
    outside_prefix = requests.get(f"{host.base_url}/greet", timeout=10)

    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "GET"
    assert wrong_method_catch_all.status_code == 405
    assert unknown.status_code == 404
    assert outside_prefix.status_code == 404


def test_status_code_headers_and_body_set_by_the_function(host: HostHandle) -> None:
    created = requests.post(f"{host.api}/created", json={"name": "widget"}, timeout=10)
    teapot = requests.get(f"{host.api}/teapot", timeout=10)
    no_content = requests.delete(f"{host.api}/no-content", timeout=10)

    assert created.status_code == 201
    assert created.headers["Location"] == "/api/items/7"
    assert created.headers["X-Devhost-Test"] == "created-header"
    assert created.headers["Content-Type"].startswith("application/json")
    assert created.json() == {"created": {"name": "widget"}}
    assert (teapot.status_code, teapot.text) == (418, "short and stout")
    assert teapot.headers["X-Kind"] == "teapot"
    assert teapot.headers["Cache-Control"] == "no-store"
    assert (no_content.status_code, no_content.content) == (204, b"")


def test_unhandled_exception_answers_500(host: HostHandle) -> None:
    response = requests.get(f"{host.api}/boom", timeout=10)

    assert response.status_code == 500
    # The exception text stays in the host log, not in the response.
    assert "boom" not in response.text


def test_blueprint_functions_are_registered_and_served(host: HostHandle) -> None:
    hello = requests.get(f"{host.api}/bp/hello/Grace", timeout=10)
    # bp_keyed declares no methods: every method reaches it (with a key: it is function-level).
    keyed = [
        requests.request(method, f"{host.api}/bp/keyed", params={"code": host.function_key})
        for method in ("GET", "POST", "DELETE", "PATCH")
    ]

    assert (hello.status_code, hello.text) == (200, "blueprint says hello to Grace")
    assert [r.status_code for r in keyed] == [200, 200, 200, 200]
    assert keyed[0].text == "blueprint function-level route"


# -- authLevel and keys ----------------------------------------------------------------


def test_anonymous_function_needs_no_key(host: HostHandle) -> None:
    assert requests.get(f"{host.api}/teapot", timeout=10).status_code == 418


@pytest.mark.parametrize(
    ("path", "key_name", "expected"),
    [
        ("guarded", None, 401),
        ("guarded", "wrong", 401),
        ("guarded", "system", 401),
        ("guarded", "function", 200),
        ("guarded", "master", 200),
        ("admin-only", None, 401),
        ("admin-only", "function", 401),
        ("admin-only", "master", 200),
        ("bp/keyed", None, 401),
    ],
)
def test_auth_level_is_enforced_with_code_or_header(
    host: HostHandle, path: str, key_name: str | None, expected: int
) -> None:
    keys = {
        None: None,
        "wrong": "not-a-key",
        "system": host.system_key,
        "function": host.function_key,
        "master": host.master_key,
    }
    key = keys[key_name]

    by_query = requests.get(f"{host.api}/{path}", params={"code": key} if key else None)
    by_header = requests.get(
        f"{host.api}/{path}", headers={"x-functions-key": key} if key else None
    )

    assert by_query.status_code == expected
    assert by_header.status_code == expected


def test_admin_apis_need_the_master_key_but_status_is_open(host: HostHandle) -> None:
    functions = f"{host.base_url}/admin/functions"

    assert requests.get(functions, timeout=10).status_code == 401
    assert requests.get(functions, params={"code": host.function_key}).status_code == 401
    listed = requests.get(functions, headers={"x-functions-key": host.master_key}, timeout=10)
    assert listed.status_code == 200
    assert {"guarded", "admin_only", "bp_hello"} <= {f["name"] for f in listed.json()}
    status = requests.get(f"{host.base_url}/admin/host/status", timeout=10)
    assert (status.status_code, status.json()["state"]) == (200, "Running")


def test_no_auth_opens_every_route(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host("http_app", tmp_path, hub=unique_name, extra_args=["--no-auth"]) as host:
        guarded = requests.get(f"{host.api}/guarded", timeout=10)
        admin_only = requests.get(f"{host.api}/admin-only", timeout=10)
        admin_api = requests.get(f"{host.base_url}/admin/functions", timeout=10)
        management = requests.get(f"{host.management}/instances/", timeout=10)

    assert (guarded.status_code, guarded.text) == (200, "function-level ok")
    assert (admin_only.status_code, admin_only.text) == (200, "admin-level ok")
    assert admin_api.status_code == 200
    assert (management.status_code, management.json()) == (200, [])


def test_keys_are_written_once_and_reused_on_restart(
    storage_connection_string: str, tmp_path: Path, unique_name: str
) -> None:
    with app_host("http_app", tmp_path, hub=unique_name) as host:
        keys_file = host.app_dir / ".devhost" / "keys.json"
        first = keys_file.read_text()
        function_key = host.function_key
        assert requests.get(f"{host.api}/guarded", params={"code": function_key}).ok
        host.stop()
        host.restart()
        after_restart = requests.get(f"{host.api}/guarded", params={"code": function_key})

    keys = json.loads(first)
    assert set(keys) == {"masterKey", "functionKeys", "systemKeys"}
    assert keys["functionKeys"]["default"] and keys["systemKeys"]["durabletask_extension"]
    assert len({keys["masterKey"], keys["functionKeys"]["default"]}) == 2
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert keys_file.read_text() == first
    assert (after_restart.status_code, after_restart.text) == (200, "function-level ok")
