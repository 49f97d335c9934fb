"""A fake Azure CLI: records every call, keeps a sign-in in AZURE_CONFIG_DIR, fails on cue.

Environment:
  FAKE_AZ_LOG        JSON lines file; one line per call: argv, the AZURE_CONFIG_DIR it got,
                     whether AZURE_CLIENT_SECRET / AzureWebJobsStorage were in its
                     environment, and what it read from standard input for `@-` (the
                     sign-in's password).
  FAKE_AZ_RULES      optional JSON file: a list of {"match": substring of the command line,
                     "exit_code": n, "stdout": text, "stderr": text, "sleep": seconds};
                     the first rule whose substring is in the command decides the call.
  FAKE_AZ_LEFTOVERS  optional file of resource ids, one a line: `az resource list` prints
                     them (tsv), `az resource delete --ids ID` removes ID.

Like the real CLI, every command but `login` needs a sign-in in AZURE_CONFIG_DIR, which
`login` writes and `logout` removes; a call without AZURE_CONFIG_DIR fails.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

PROFILE = "azureProfile.json"


def main(argv: list[str]) -> int:
    env = os.environ
    config = env.get("AZURE_CONFIG_DIR")
    password = _password(argv)
    _record(
        {
            "argv": ["az", *argv],
            "config_dir": config,
            "secret_in_env": "AZURE_CLIENT_SECRET" in env,
            "storage_in_env": "AzureWebJobsStorage" in env,
            "password": password,
        }
    )
    line = " ".join(["az", *argv])
    for rule in _rules():
        if rule["match"] in line:
            time.sleep(float(rule.get("sleep", 0)))
            sys.stdout.write(rule.get("stdout", ""))
            sys.stderr.write(rule.get("stderr", ""))
            return int(rule.get("exit_code", 0))
    if not config:
        print("fake az: AZURE_CONFIG_DIR is not set", file=sys.stderr)
        return 2
    profile = Path(config) / PROFILE
    words = _words(argv)
    if words[:1] == ["login"]:
        if not password:
            print("ERROR: Please specify both username and password.", file=sys.stderr)
            return 1
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(json.dumps({"user": _option(argv, "--username")}), encoding="utf-8")
        return 0
    if not profile.exists():
        print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
        return 1
    if words[:1] == ["logout"]:
        profile.unlink()
        return 0
    if words[:2] == ["resource", "list"]:
        print("\n".join(_leftovers()))
        return 0
    if words[:2] == ["resource", "delete"]:
        gone = _option(argv, "--ids")
        _write_leftovers([item for item in _leftovers() if item != gone])
        return 0
    name = _option(argv, "--name") or _option(argv, "--workspace-name") or ""
    print(json.dumps({"command": " ".join(words), "name": name, "provisioningState": "Succeeded"}))
    return 0


def _password(argv: list[str]) -> str | None:
    """The sign-in's password: read from stdin for `@-`, as the real CLI does."""
    for index, token in enumerate(argv):
        value = None
        if token.startswith("--password="):
            value = token.split("=", 1)[1]
        elif token in ("--password", "-p") and index + 1 < len(argv):
            value = argv[index + 1]
        if value is not None:
            return sys.stdin.read().rstrip("\r\n") if value == "@-" else value
    return None


def _words(argv: list[str]) -> list[str]:
    words = []
    for token in argv:
        if token.startswith("-"):
            break
        words.append(token)
    return words


def _option(argv: list[str], name: str) -> str | None:
    for index, token in enumerate(argv):
        if token == name and index + 1 < len(argv):
            return argv[index + 1]
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return None


def _record(call: dict[str, Any]) -> None:
    log = os.environ.get("FAKE_AZ_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(json.dumps(call) + "\n")


def _rules() -> list[dict[str, Any]]:
    path = os.environ.get("FAKE_AZ_RULES")
    if not path or not os.path.exists(path):
        return []
    rules: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))
    return rules


def _leftovers() -> list[str]:
    path = os.environ.get("FAKE_AZ_LEFTOVERS")
    if not path or not os.path.exists(path):
        return []
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line]


def _write_leftovers(ids: list[str]) -> None:
    path = os.environ.get("FAKE_AZ_LEFTOVERS")
    if path:
        Path(path).write_text("".join(item + "\n" for item in ids), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
