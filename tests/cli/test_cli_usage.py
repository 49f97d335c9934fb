"""Usage errors: refused by the parser, before any request, with exit 2 and a message
naming the option (not the API's field). Through `haymaker.cli.main`; no host needed:
every command points at port 9, where a request would fail with exit 1 instead."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from haymaker.cli import main

NOWHERE = ("--url", "http://127.0.0.1:9", "--key", "k")


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """(the usage line's command, the error line) of a refused command line."""
    with pytest.raises(SystemExit) as exited:
        main([*argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()[0], err.splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("run", "start", "--duration", "", "--dry-run"), "--duration: must not be empty"),
        (("run", "start", "--run-id", ""), "--run-id: must not be empty"),
        (("run", "start", "--scenario", ""), "--scenario: must not be empty"),
        (("run", "logs", "run-1", "--agent", ""), "--agent: must not be empty"),
        (("run", "resources", "run-1", "--agent", ""), "--agent: must not be empty"),
        (("run", "logs", "run-1", "--since", ""), "--since: must not be empty"),
        (("up", "--hub", ""), "--hub: must not be empty"),
    ],
)
def test_an_empty_value_is_a_usage_error_not_the_default(capsys, argv, error):
    assert usage_error(capsys, *argv, *NOWHERE)[1].endswith(f"argument {error}")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("run", "start", "--count", "0"), "--count: must be between 1 and 50; got 0"),
        (("run", "start", "--count", "10000"), "--count: must be between 1 and 50; got 10000"),
        (
            ("run", "start", "--duration", "5M"),
            "--duration: '5M' is not an ISO 8601 duration (use the PnDTnHnMnS form, "
            "e.g. PT8H, PT15M, P1DT2H or PT0.5S)",
        ),
        (
            ("run", "start", "--duration", "PT1M"),
            "--duration: must be between PT5M and P1D; got 'PT1M'",
        ),
        (("run", "start", "--poll", "PT0S"), "--poll: must be between PT10S and PT1H; got 'PT0S'"),
        (
            ("run", "start", "--poll", "P1Y"),
            "--poll: 'P1Y': years, months and weeks are not supported (they have no fixed "
            "length); use days and hours, e.g. P7D or PT36H",
        ),
        (
            ("run", "start", "--duration", "PT30M", "--poll", "PT30M"),
            "--poll: PT30M must be shorter than --duration PT30M",
        ),
        (("run", "list", "--limit", "0"), "--limit: must be at least 1; got 0"),
        (("orch", "status", "--runs", "0"), "--runs: must be at least 1; got 0"),
        (("metrics", "--since", "bogus"), "--since: 'bogus' is not an ISO 8601 duration"),
        (("metrics", "--since", "P100Y"), "--since: 'P100Y': years, months and weeks are not"),
        (("sweep", "--timeout", "0"), "--timeout: must be more than 0 seconds; got 0"),
    ],
)
def test_what_the_api_would_refuse_is_refused_first_naming_the_option(capsys, argv, error):
    usage, message = usage_error(capsys, *argv, *NOWHERE)
    assert f"argument {error}" in message
    command = " ".join(word for word in argv[:2] if not word.startswith("-"))
    assert usage.startswith(f"usage: haymaker {command} ")


def test_an_unknown_option_shows_the_commands_own_usage(capsys):
    usage, message = usage_error(capsys, "run", "start", "--bogus")
    assert usage.startswith("usage: haymaker run start ")
    assert message == "haymaker run start: error: unrecognized arguments: --bogus"


@pytest.mark.parametrize("url", ["http://", "http:", "https://"])
def test_a_url_without_a_host_gets_a_whole_example(capsys, url):
    assert main(["run", "list", "--url", url, "--key", "k"]) == 2
    assert capsys.readouterr().err == (
        f"haymaker: error: the URL {url!r} needs a scheme and a host, e.g. "
        "https://YOUR-APP.azurewebsites.net (or http://127.0.0.1:7071 for a local devhost)\n"
    )


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_https_to_a_plain_http_host_says_to_use_http(capsys, plain_http_port):
    url = f"https://127.0.0.1:{plain_http_port}"
    assert main(["run", "list", "--url", url, "--key", "k"]) == 1
    assert capsys.readouterr().err == (
        f"haymaker: error: {url} answers plain HTTP, not HTTPS (a local devhost does): "
        f"use --url http://127.0.0.1:{plain_http_port}\n"
    )


@pytest.mark.parametrize("port", ["99999", "-5", "0"])
def test_up_refuses_a_port_no_host_can_listen_on(capsys, port):
    message = usage_error(capsys, "up", "--port", port, "--app-dir", "/nonexistent")[1]
    assert message.startswith("haymaker up: error: argument --port: must be between 1 and 65535")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ("run", "report", "run-1", "--format", "markdown", "--json"),
            "argument --json: not allowed with --format markdown",
        ),
        (("run", "start", "--dry-run", "--wait"), "argument --wait: not allowed with --dry-run"),
    ],
)
def test_options_that_contradict_each_other_are_a_usage_error(capsys, argv, error):
    assert error in usage_error(capsys, *argv, *NOWHERE)[1]


def test_doctor_refuses_a_folder_without_the_app_in_one_line(capsys, tmp_path):
    assert main(["doctor", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err == f"haymaker: error: {tmp_path} has no function_app.py: pass the app folder\n"
    )


def test_dashboard_before_any_up_says_what_every_command_says(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("HAYMAKER_URL", "HAYMAKER_KEY", "HAYMAKER_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HAYMAKER_CONFIG", str(tmp_path / "none.toml"))
    assert main(["dashboard"]) == 1
    assert "start it with `haymaker up`" in capsys.readouterr().err


def test_dashboard_open_without_a_browser_says_to_show_the_key(capsys, monkeypatch):
    monkeypatch.setattr("webbrowser.open", lambda url: False)  # no browser on this machine
    assert main(["dashboard", "--open", "--url", "http://127.0.0.1:9", "--key", "k"]) == 1
    captured = capsys.readouterr()
    assert "code=***" in captured.out
    assert captured.err == (
        "haymaker: error: no browser could be opened here: run it with --show-keys and open "
        "the address by hand\n"
    )
