"""Naming and tagging rules: every name derives from run id + agent id, so retries are idempotent.

Pure functions only. Runs overlap (one starts every 6 h and lasts 8 h), so every name that
lives in a shared namespace (resource groups, identities, secrets, storage containers,
tables, queues) carries the run and the agent.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

TAG_MANAGED = "azurehaymaker-managed"
TAG_RUN = "azurehaymaker-run"
TAG_AGENT = "azurehaymaker-agent"
TAG_SCENARIO = "azurehaymaker-scenario"

RUN_SHORT_LENGTH = 8
IDENTITY_PREFIX = "AzureHayMaker"
# Identities cannot carry tags, so sweeps recognize them by display name alone. The
# scenario part may itself contain dashes: the run short and agent id anchor on the end.
IDENTITY_NAME_PATTERN = re.compile(
    rf"^{IDENTITY_PREFIX}-(?P<scenario>.+)-(?P<run_short>[0-9a-f]{{{RUN_SHORT_LENGTH}}})"
    r"-(?P<agent>a\d{2,})$"
)
SECRET_NAME_PATTERN = re.compile(
    rf"^haymaker-(?P<run_short>[0-9a-f]{{{RUN_SHORT_LENGTH}}})-(?P<agent>a\d{{2,}})$"
)

LOCAL_KINDS = ("blob_container", "table", "queue")

_MAX_RESOURCE_GROUP = 90
_MAX_DISPLAY_NAME = 120
_MAX_STORAGE_NAME = 63
# Characters Azure Tables forbid in PartitionKey/RowKey, where run ids end up.
_FORBIDDEN_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_AGENT_ID = re.compile(r"^a\d{2,}$")


def iso_utc(moment: datetime) -> str:
    """The one spelling of a time in keys, records and events: `2025-01-01T06:00:00.000Z`.

    Fixed width (milliseconds always present) so that string order is time order, which
    table filters and row keys rely on. A naive datetime is taken to be UTC.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def name_stamp(moment: datetime) -> str:
    """A time to the second as it can stand in any name or value: `20261203t221500`
    (lowercase letters and digits only: blob, table, queue and tag values all take it).
    The `{stamp}` of an operate action."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%dt%H%M%S")


def parse_iso_utc(text: str) -> datetime:
    """Parse an ISO 8601 time (with `Z`, an offset, or naive meaning UTC) to an aware UTC time.

    ValueError when it is not one, or when it falls outside what a datetime holds in UTC.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an ISO 8601 time") from None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00 is in year 10000 in UTC
        raise ValueError(f"{text[:40]!r} is outside years 1 to 9999 once in UTC") from None


def next_multiple(moment: datetime, seconds: int) -> datetime:
    """The first multiple of `seconds` (whole seconds since the epoch) after `moment`: the
    moments every monitor of a run polls at, and its agents report by, so one drain of the
    run's queue serves them all and a virtual clock stops there once for all of them."""
    stamp = int(moment.timestamp()) // seconds * seconds + seconds
    return datetime.fromtimestamp(stamp, UTC)


def validate_run_id(run_id: str) -> str:
    """Reject run ids that cannot be a table key or that are empty; return it unchanged."""
    if not run_id or len(run_id) > 128 or _FORBIDDEN_KEY_CHARS.search(run_id):
        raise ValueError(f"invalid run id {run_id!r}: 1-128 chars, none of / \\ # ? or controls")
    return run_id


def validate_agent_id(agent_id: str) -> str:
    """Agent ids are `a` + a zero-padded index (see `agent_id`); return it unchanged."""
    if not _AGENT_ID.match(agent_id):
        raise ValueError(f"invalid agent id {agent_id!r}: expected like 'a03'")
    return agent_id


def agent_id(run_id: str, index: int) -> str:
    """The id of the agent at `index` (0-based) in a run: `a00`, `a01`, ... `a99`, `a100`.

    It is unique only within its run; names that must be unique across runs combine it
    with `run_short(run_id)`.
    """
    validate_run_id(run_id)
    if index < 0:
        raise ValueError(f"agent index must be >= 0, got {index}")
    return f"a{index:02d}"


def run_short(run_id: str) -> str:
    """A stable 8-hex-char form of a run id for length-limited names.

    A hash rather than a suffix: run ids made from timestamps share their endings, and a
    hash keeps names valid whatever characters the run id has.
    """
    validate_run_id(run_id)
    return hashlib.sha256(run_id.encode("utf-8")).hexdigest()[:RUN_SHORT_LENGTH]


def tags_for(run_id: str, agent_id: str, scenario_id: str) -> dict[str, str]:
    """The tags every object created for this agent carries."""
    validate_run_id(run_id)
    validate_agent_id(agent_id)
    if not scenario_id:
        raise ValueError("scenario id must not be empty")
    return {
        TAG_MANAGED: "true",
        TAG_RUN: run_id,
        TAG_AGENT: agent_id,
        TAG_SCENARIO: scenario_id,
    }


def name_prefix(run_id: str, agent_id: str) -> str:
    """The `{prefix}` scenarios put in front of their resource names: `hm<run short><agent>`.

    Lowercase letters and digits only, 13-14 chars, so even a storage account name
    (3-24 lowercase alnum) built from it stays valid.
    """
    return f"hm{run_short(run_id)}{validate_agent_id(agent_id)}"


def _slug(text: str) -> str:
    """Lowercase letters, digits and single dashes, no leading or trailing dash."""
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", text.lower())).strip("-")


def resource_group_name(run_id: str, agent_id: str, scenario_id: str) -> str:
    """`haymaker-<run short>-<agent>-<scenario>`, the scenario part cut to fit 90 chars."""
    head = f"haymaker-{run_short(run_id)}-{validate_agent_id(agent_id)}"
    scenario = _slug(scenario_id)[: _MAX_RESOURCE_GROUP - len(head) - 1].strip("-")
    return f"{head}-{scenario}" if scenario else head


def identity_display_name(scenario_id: str, run_id: str, agent_id: str) -> str:
    """`AzureHayMaker-<scenario>-<run short>-<agent>`, matched by IDENTITY_NAME_PATTERN."""
    tail = f"-{run_short(run_id)}-{validate_agent_id(agent_id)}"
    room = _MAX_DISPLAY_NAME - len(IDENTITY_PREFIX) - 1 - len(tail)
    scenario = _slug(scenario_id)[:room].strip("-") or "scenario"
    return f"{IDENTITY_PREFIX}-{scenario}{tail}"


def secret_name(run_id: str, agent_id: str) -> str:
    """The Key Vault secret holding the agent's client secret: letters, digits, dashes."""
    return f"haymaker-{run_short(run_id)}-{validate_agent_id(agent_id)}"


def application_unique_name(run_id: str, agent_id: str) -> str:
    """The agent's app registration `uniqueName`: what makes creating it idempotent."""
    return f"haymaker-{run_short(run_id)}-{validate_agent_id(agent_id)}"


def agent_job_name(run_id: str, agent_id: str) -> str:
    """The agent's Container Apps job: `hm-<run short>-<agent>` (jobs allow 32 chars)."""
    return f"hm-{run_short(run_id)}-{validate_agent_id(agent_id)}"


def local_resource_name(kind: str, run_id: str, agent_id: str, base: str) -> str:
    """A valid storage name for a scenario resource in the local cloud (the storage account).

    Containers and queues: 3-63 lowercase alnum and single dashes, `hm-<run>-<agent>-<base>`.
    Tables: 3-63 alnum starting with a letter, `hm<run><agent><base>`. The run and agent
    come first so cutting a long base can never make two agents' names collide. A base
    that already starts with `name_prefix()` (scenarios write `{prefix}logs`) is not
    prefixed twice, so the name is the same whether or not the placeholder was filled.
    """
    prefix = name_prefix(run_id, agent_id)
    slug = _slug(base)
    if slug.startswith(prefix):
        slug = slug[len(prefix) :].strip("-")
    if kind == "table":
        alnum = slug.replace("-", "")
        return f"{prefix}{alnum}"[:_MAX_STORAGE_NAME]
    if kind in ("blob_container", "queue"):
        head = f"hm-{run_short(run_id)}-{agent_id}"
        return f"{head}-{slug}"[:_MAX_STORAGE_NAME].rstrip("-") if slug else head
    raise ValueError(f"unknown local resource kind {kind!r}; expected one of {LOCAL_KINDS}")
