"""Group 4: app settings present, schedules valid, no secret values committed.

`local.settings.sample.json` is the project's list of app settings (the one a deploy
copies into the function app's configuration). Every `%NAME%` a binding uses must be in
it (the host refuses to start a trigger whose expression it cannot resolve), the settings
module must accept it, and every timer schedule must parse as NCRONTAB.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import re
from pathlib import Path
from typing import Any

from devhost.azurite import DEV_KEY
from haymaker.doctor.findings import Finding, failed, listing, passed
from haymaker.doctor.functions import Indexed
from haymaker.doctor.tree import deployable_files
from haymaker.settings import SettingsError, load_settings
from ncrontab import Schedule

SAMPLE = "local.settings.sample.json"
REQUIRED = {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": None}
EXPRESSION = re.compile(r"%([^%\s]+)%")
# Values anyone may publish: the Azurite account key is documented by Microsoft.
PUBLIC_VALUES = {DEV_KEY}
PLACEHOLDER = re.compile(r"^(?:\.\.\.|\*+|<[^>]*>|\{[^}]*\}|\$\{?[^}]*\}?|%[^%]+%|\[.*\])$")
SECRET_PATTERNS = {
    "storage account key": re.compile(r"AccountKey=([A-Za-z0-9+/]{20,}={0,2})", re.I),
    "shared access key": re.compile(r"SharedAccessKey=([A-Za-z0-9+/]{20,}={0,2})", re.I),
    "SAS signature": re.compile(r"[?&]sig=([A-Za-z0-9%+/=]{20,})"),
    "Entra client secret": re.compile(r"\b([A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34})\b"),
    "private key": re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)"),
}
SECRET_NAMES = re.compile(r"secret|password|passwd|pwd|apikey|api_key|accountkey", re.I)


def load_sample(app_dir: Path) -> dict[str, str]:
    """The sample's Values; raises ValueError naming the problem."""
    path = app_dir / SAMPLE
    if not path.is_file():
        raise ValueError(f"{SAMPLE} is missing")
    try:
        values = json.loads(path.read_text(encoding="utf-8")).get("Values")
    except (ValueError, AttributeError) as error:
        raise ValueError(f"{SAMPLE} is not a JSON object with Values: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{SAMPLE} has no Values object")
    return {str(k): str(v) for k, v in values.items()}


def _binding_settings(indexed: Indexed) -> dict[str, str]:
    """{setting name: function that needs it} for every %NAME% in a binding."""
    needed: dict[str, str] = {}
    for function in indexed.functions:
        for binding in function["bindings"]:
            for value in binding.values():
                for name in EXPRESSION.findall(str(value)):
                    needed.setdefault(name, function["name"])
    return needed


def check_required(app_dir: Path, indexed: Indexed) -> Finding:
    name = "settings: required"
    try:
        values = load_sample(app_dir)
    except ValueError as error:
        return failed(name, str(error), f"list every app setting in {SAMPLE}")
    problems = []
    for setting, wanted in REQUIRED.items():
        if not values.get(setting):
            problems.append(f"{setting} is missing")
        elif wanted and values[setting] != wanted:
            problems.append(f"{setting} is {values[setting]!r}, expected {wanted!r}")
    for setting, function in sorted(_binding_settings(indexed).items()):
        if not values.get(setting):
            problems.append(f"{setting} is missing (used by {function}'s binding)")
    try:
        load_settings(values)
    except SettingsError as error:
        problems.extend(error.problems)
    if problems:
        return failed(name, listing(problems), f"set these in {SAMPLE} and the app's settings")
    return passed(name, f"{SAMPLE}: {len(values)} settings, accepted by haymaker.settings")


def check_schedules(app_dir: Path, indexed: Indexed) -> Finding:
    name = "settings: schedules"
    try:
        values = load_sample(app_dir)
    except ValueError:
        values = {}
    schedules = {
        f"{f['name']}": str(binding.get("schedule"))
        for f in indexed.functions
        for binding in f["bindings"]
        if binding.get("type") == "timerTrigger"
    }
    problems = []
    for function, expression in sorted(schedules.items()):
        resolved = EXPRESSION.sub(lambda m: values.get(m.group(1), m.group(0)), expression)
        if EXPRESSION.search(resolved):
            continue  # unresolved: reported by the required-settings check
        try:
            Schedule.parse(resolved)
        except ValueError as error:
            problems.append(f"{function}: {expression} = {resolved!r}: {error}")
    if problems:
        return failed(
            name,
            listing(problems),
            "use six-field NCRONTAB ({second} {minute} {hour} {day} {month} {day-of-week}), "
            "e.g. '0 0 6 * * *'",
        )
    return passed(name, f"{len(schedules)} timer schedules parse as NCRONTAB")


def _placeholder(value: str) -> bool:
    return not value.strip() or bool(PLACEHOLDER.match(value.strip())) or value in PUBLIC_VALUES


def _named_secrets(data: Any, trail: str = "") -> list[str]:
    """JSON keys that name a secret and hold a literal value."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{trail}.{key}" if trail else str(key)
            if isinstance(value, str) and SECRET_NAMES.search(str(key)) and not _placeholder(value):
                found.append(where)
            found.extend(_named_secrets(value, where))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_named_secrets(value, f"{trail}[{index}]"))
    return found


def secrets_in(relative: Path, text: str) -> list[str]:
    """`file:line kind` for each secret value in a file; never the value itself."""
    # Each pattern runs over the whole text (none can match across a line break), and a
    # line number is worked out only for a match: a line-by-line scan cost most of the
    # doctor's time on a tree of a few hundred files.
    hits: list[tuple[int, int, str]] = []
    for order, (kind, pattern) in enumerate(SECRET_PATTERNS.items()):
        for match in pattern.finditer(text):
            if not _placeholder(match.group(1)):
                hits.append((match.start(), order, kind))
    found = []
    if hits:
        ends = list(itertools.accumulate(len(line) for line in text.splitlines(True)))
        numbered = sorted(
            (bisect.bisect_right(ends, offset) + 1, order, offset, kind)
            for offset, order, kind in hits
        )
        found = [f"{relative}:{number} {kind}" for number, _, _, kind in numbered]
    if relative.suffix == ".json":
        with contextlib.suppress(ValueError):
            found.extend(f"{relative} {key}" for key in _named_secrets(json.loads(text)))
    return found


def check_secrets(app_dir: Path) -> Finding:
    name = "settings: no committed secrets"
    files = deployable_files(app_dir)
    found = []
    for relative in files:
        data = (app_dir / relative).read_bytes()
        if b"\0" not in data[:8192]:
            found.extend(secrets_in(relative, data.decode("utf-8", errors="replace")))
    if found:
        return failed(
            name,
            f"secret values in the deployable tree: {listing(found)}",
            "remove them, rotate them, and read them from Key Vault or identity-based "
            "settings (AzureWebJobsStorage__accountName) instead",
        )
    return passed(name, f"no secret values in the {len(files)} files of the deployable tree")
