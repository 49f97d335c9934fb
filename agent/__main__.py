"""`python -m agent`: read the contract, run the lifecycle, leave the exit code behind."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from agent.contract import Contract, ContractError
from agent.lifecycle import Lifecycle
from haymaker.events import EventSender
from haymaker.providers.local_cloud import LocalCloud


def stay_silent(contract: Contract) -> int:
    """The HAYMAKER_AGENT_SILENT hook: report nothing, wait to be killed (or the wall cap)."""
    print("silent test hook: reporting nothing", flush=True)
    started = time.monotonic()
    while (
        contract.max_wall_seconds is None or time.monotonic() - started < contract.max_wall_seconds
    ):
        time.sleep(0.5)
    return 1


def write_exit_file(path: Path, code: int) -> None:
    """Tell the provider how we ended: after a host restart it cannot wait() for us."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"exit_code": code}), encoding="utf-8")
    os.replace(tmp, path)


def main(env: Mapping[str, str]) -> int:
    try:
        contract = Contract.from_env(env)
    except ContractError as error:
        print(f"agent contract: {error}", file=sys.stderr)
        return 2
    code = 1
    try:
        if contract.silent:
            code = stay_silent(contract)
        else:
            sender = EventSender(contract.storage, contract.events_queue)
            code = Lifecycle(contract, LocalCloud(contract.storage), sender).run()
    finally:
        if contract.exit_file is not None:
            write_exit_file(contract.exit_file, code)
    return code


if __name__ == "__main__":
    sys.exit(main(os.environ))
