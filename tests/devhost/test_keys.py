"""Host keys persist like the Functions host's, and each route level opens only to its keys."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from azure.functions import AuthLevel

from devhost.keys import (
    HostKeys,
    KeysFileError,
    authorize,
    authorize_system,
    load_or_create_keys,
    mask_key,
    provided_key,
)


@pytest.fixture
def keys() -> HostKeys:
    return HostKeys(
        master="master-key",
        function_keys={"default": "function-key", "ci": "ci-key"},
        system_keys={"durabletask_extension": "durable-key"},
    )


def test_first_start_writes_a_private_keys_file_in_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / ".devhost" / "keys.json"
    keys = load_or_create_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "masterKey": keys.master,
        "functionKeys": {"default": keys.function_keys["default"]},
        "systemKeys": {"durabletask_extension": keys.system_keys["durabletask_extension"]},
    }
    all_keys = [
        keys.master,
        keys.function_keys["default"],
        keys.system_keys["durabletask_extension"],
    ]
    assert len(set(all_keys)) == 3 and all(len(key) >= 40 for key in all_keys)
    assert [entry.name for entry in path.parent.iterdir()] == ["keys.json"]


def test_keys_are_reused_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / ".devhost" / "keys.json"
    assert load_or_create_keys(path) == load_or_create_keys(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON"),
        ("[]", "JSON object"),
        (
            '{"functionKeys": {"default": "f"}, "systemKeys": {"durabletask_extension": "s"}}',
            "masterKey",
        ),
        (
            '{"masterKey": "m", "functionKeys": {}, "systemKeys": {"durabletask_extension": "s"}}',
            '"default"',
        ),
        (
            '{"masterKey": "m", "functionKeys": {"default": "f"}, "systemKeys": {}}',
            "durabletask_extension",
        ),
        (
            '{"masterKey": "m", "functionKeys": {"default": 1}, "systemKeys": {}}',
            "functionKeys.default",
        ),
    ],
)
def test_corrupt_keys_file_is_named_with_what_is_wrong(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(KeysFileError) as caught:
        load_or_create_keys(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)
    assert path.read_text() == content, "a corrupt file must not be silently replaced"


def test_anonymous_routes_need_no_key(keys: HostKeys) -> None:
    assert authorize("anonymous", None, keys)


@pytest.mark.parametrize("key", ["function-key", "ci-key", "master-key"])
def test_function_routes_open_to_any_function_key_or_the_master_key(
    keys: HostKeys, key: str
) -> None:
    assert authorize("function", key, keys)


@pytest.mark.parametrize("key", [None, "", "wrong", "durable-key", "function-key "])
def test_function_routes_stay_shut_without_a_function_key(keys: HostKeys, key: str | None) -> None:
    assert not authorize("function", key, keys)


def test_a_function_key_does_not_open_an_admin_route(keys: HostKeys) -> None:
    assert not authorize("admin", "function-key", keys)
    assert authorize("admin", "master-key", keys)


def test_auth_levels_match_the_azure_functions_enum_in_any_case(keys: HostKeys) -> None:
    assert not authorize(str(AuthLevel.ADMIN), "function-key", keys)
    assert authorize(AuthLevel.FUNCTION.value, "function-key", keys)
    assert authorize("Anonymous", None, keys)


def test_unknown_auth_level_is_an_error_not_a_guess(keys: HostKeys) -> None:
    with pytest.raises(ValueError, match="unknown auth level 'system-ish'"):
        authorize("system-ish", "master-key", keys)


def test_non_ascii_key_is_simply_rejected(keys: HostKeys) -> None:
    assert not authorize("function", "clé", keys)


def test_durable_system_routes_open_to_the_system_key_or_master_only(keys: HostKeys) -> None:
    assert authorize_system("durable-key", keys)
    assert authorize_system("master-key", keys)
    assert not authorize_system("function-key", keys)
    assert not authorize_system(None, keys)
    assert not authorize_system("durable-key", keys, name="other_extension")


def test_key_comes_from_code_query_parameter_first() -> None:
    assert provided_key({"code": "from-query"}, {"x-functions-key": "from-header"}) == "from-query"


def test_key_comes_from_header_in_any_case_when_no_code() -> None:
    assert provided_key({}, {"X-Functions-Key": "from-header"}) == "from-header"
    assert provided_key({"code": ""}, {"x-functions-key": "from-header"}) == "from-header"


def test_no_key_provided() -> None:
    assert provided_key({"other": "x"}, {"Accept": "*/*"}) is None


def test_mask_key_hides_every_code_value_and_nothing_else() -> None:
    text = (
        "status http://localhost:7071/runtime/webhooks/durabletask/instances/abc"
        "?taskHub=Hub&connection=Storage&code=s3cr3t-_KEY== and "
        '"http://x/api/run?Code=other&zipcode=12345"'
    )
    assert mask_key(text) == (
        "status http://localhost:7071/runtime/webhooks/durabletask/instances/abc"
        "?taskHub=Hub&connection=Storage&code=*** and "
        '"http://x/api/run?Code=***&zipcode=12345"'
    )
