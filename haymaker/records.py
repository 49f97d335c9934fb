"""Run records in Azure Tables: runs, agents, resources, agent events and reports.

Everything a user reads about a run (CLI, status API, report) comes from here, not from
orchestration history. Writes are idempotent so a retried activity records nothing twice:
creates tolerate "already exists", events are keyed by their id, resources by name.

Azure Tables limits shape the layout: a property holds at most 64 KiB (32 K UTF-16
chars), property names must be identifiers, keys may not contain / \\ # ?, and rows come
back in (PartitionKey, RowKey) order — so row keys are built to sort the way users page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from haymaker.events import MAX_PROPERTY_CHARS, fit_event, truncate_text
from haymaker.naming import iso_utc, parse_iso_utc, validate_agent_id, validate_run_id

RUN_STATUSES = ("pending", "running", "completed", "cut_short", "failed", "canceled")
AGENT_PHASES = ("provisioning", "monitoring", "tearing_down", "done", "failed")
RESOURCE_ACTIONS = ("created", "removed", "left")

# 64 KiB per property is 32 768 UTF-16 code units; stay clear of it.
_REPORT_MAX_PARTS = 15  # 15 x 60 KB stays under the 1 MiB entity limit.
_TRANSACTION_OPS = 100
_TRANSACTION_CHARS = 1_500_000  # 4 MiB per batch request, UTF-16 worst case plus overhead.
_JSON_SUFFIX = "__json"
_RUNS_PARTITION = "runs"
# A run's events partitions, `<run id>|<time>`, sort below `<run id>}` ("}" follows "|").
_PARTITIONS_END = "}"
# The span of event time in one partition of a run's events. Agents in Azure send a few
# events a second at most (a drain of a 15-minute poll writes one transaction for every
# span it covers); the local provider's agents, on a virtual clock, send hundreds a
# second, and use 1 (see haymaker/service.py).
EVENTS_PARTITION_SECONDS = 60
_HEALTH_PARTITION = "health"  # the health check's probe row; never listed with runs
_RESERVED_FIELDS = {"PartitionKey", "RowKey", "Timestamp", "run_id", "agent_id", "created_at"}
_KEY_UNSAFE = re.compile(r"[/\\#?|\x00-\x1f\x7f-\x9f]")
# The service's next keys, as the SDK carries them in a continuation: base64 of a key.
_TOKEN_KEY = re.compile(r"[A-Za-z0-9+/]{0,1400}={0,2}")
Page = tuple[list[dict[str, Any]], str | None]


class TableAccount(Protocol):
    """The table side of a storage account (haymaker.storage.StorageAccount is one; the agent
    image carries this module but not haymaker.storage)."""

    def table_service(self) -> TableServiceClient: ...


def _encode_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Table properties for `fields`: dicts/lists as JSON, datetimes as ISO, long text cut.

    None is skipped (tables cannot store null, and a merge then keeps the old value).
    """
    encoded: dict[str, Any] = {}
    for key, value in fields.items():
        if not key.isidentifier():
            raise ValueError(f"field name {key!r} is not an identifier, as Azure Tables requires")
        if value is None:
            continue
        if isinstance(value, datetime):
            encoded[key] = iso_utc(value)
        elif isinstance(value, dict | list | tuple):
            text = json.dumps(value, separators=(",", ":"), sort_keys=True)
            if len(text) > MAX_PROPERTY_CHARS:
                raise ValueError(f"field {key!r} is {len(text)} chars of JSON, over the limit")
            encoded[key + _JSON_SUFFIX] = text
        elif isinstance(value, str):
            encoded[key] = truncate_text(value)
        elif isinstance(value, bool | int | float):
            encoded[key] = value
        else:
            raise TypeError(f"field {key!r} has unsupported type {type(value).__name__}")
    return encoded


def _decode_entity(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's view of a row: no keys or table metadata, JSON fields parsed."""
    decoded: dict[str, Any] = {}
    for key, value in entity.items():
        if key in ("PartitionKey", "RowKey", "Timestamp") or key.startswith("_"):
            continue
        if key.endswith(_JSON_SUFFIX):
            decoded[key[: -len(_JSON_SUFFIX)]] = json.loads(value)
        else:
            decoded[key] = value
    return decoded


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


class InvalidContinuation(ValueError):
    """A continuation token this service did not hand out (the caller's input is wrong)."""


def _decode_token(token: str | None) -> dict[str, str] | None:
    """The SDK's resume point from a token `_encode_token` made; InvalidContinuation if the
    token cannot be one (anything else would reach the SDK or the service and fail there)."""
    if token is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise InvalidContinuation("continuation token is not one this service returned") from None
    if not (
        isinstance(value, dict)
        and set(value) == {"PartitionKey", "RowKey"}
        and all(_token_key(key) for key in value.values())
    ):
        raise InvalidContinuation("continuation token is not one this service returned")
    return value


def _token_key(key: Any) -> bool:
    return key is None or (isinstance(key, str) and _TOKEN_KEY.fullmatch(key) is not None)


def _as_iso(value: datetime | str) -> str:
    return iso_utc(value if isinstance(value, datetime) else parse_iso_utc(value))


def _now() -> str:
    return iso_utc(datetime.now(UTC))


def _time_key(created_at: str, run_id: str) -> str:
    """Row key of a run's data row: newest first, so listing pages from the latest run."""
    millis = int(parse_iso_utc(created_at).timestamp() * 1000)
    return f"t|{10**13 - 1 - millis:013d}|{run_id}"


class RunRecords:
    """The run record tables `<prefix>Runs|Agents|Resources|Events|Reports`, made on first use.

    `storage` is the app's `StorageAccount` (connection string or identity), or a
    connection string.
    """

    def __init__(
        self,
        storage: TableAccount | str,
        table_prefix: str = "HayMaker",
        events_partition_seconds: int = EVENTS_PARTITION_SECONDS,
    ) -> None:
        """`events_partition_seconds`: the span of event time a partition of a run's
        events holds (see `events_partition`); the same for all of a run's events."""
        if not (table_prefix.isalnum() and table_prefix[:1].isalpha()):
            raise ValueError(f"table prefix {table_prefix!r} must be alphanumeric from a letter")
        if not 1 <= events_partition_seconds <= 86_400:
            raise ValueError(
                f"events_partition_seconds must be 1-86400, got {events_partition_seconds}"
            )
        self._events_span = events_partition_seconds
        self._service = (
            TableServiceClient.from_connection_string(storage)
            if isinstance(storage, str)
            else storage.table_service()
        )
        self._prefix = table_prefix
        self._tables: dict[str, TableClient] = {}
        # Each run's data row key, by run id: a run's id row never changes once written,
        # so a run is looked up once per process, not on every read (a monitor's poll
        # reads its run every time).
        self._run_keys: dict[str, str] = {}

    def _table(self, name: str) -> TableClient:
        if name not in self._tables:
            self._tables[name] = self._service.create_table_if_not_exists(self._prefix + name)
        return self._tables[name]

    def _page(
        self, table: str, query: str, parameters: dict[str, Any], limit: int, token: str | None
    ) -> Page:
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, got {limit}")
        # The SDK's token is a dict of the next keys, though typed as a string.
        resume: Any = _decode_token(token)
        pager = (
            self._table(table)
            .query_entities(query, parameters=parameters, results_per_page=limit)
            .by_page(continuation_token=resume)
        )
        try:
            rows = [_decode_entity(entity) for entity in next(pager, [])]
        except HttpResponseError as error:
            if resume is not None and error.status_code == 400:  # keys the service refuses
                raise InvalidContinuation(
                    "continuation token is not one this service returned"
                ) from None
            raise
        return rows, _encode_token(pager.continuation_token)  # type: ignore[attr-defined]

    def check_writable(self) -> None:
        """Write (and overwrite) one probe row: raises what storage raises when it takes no
        writes (a full disk, a read-only key, a lock), which reading alone would not show."""
        probe = {"PartitionKey": _HEALTH_PARTITION, "RowKey": "probe", "checked_at": _now()}
        self._table("Runs").upsert_entity(probe, mode=UpdateMode.REPLACE)

    # --- runs -------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        request: Mapping[str, Any],
        scenario_ids: Iterable[str],
        created_at: datetime | str,
    ) -> bool:
        """Record a new pending run; False (and no change) when it already exists.

        Two rows in one partition, written in one transaction: an id row for lookups and a
        data row keyed by inverted creation time for newest-first listing.
        """
        validate_run_id(run_id)
        created = _as_iso(created_at)
        time_key = _time_key(created, run_id)
        scenarios = list(scenario_ids)
        data = {
            "PartitionKey": _RUNS_PARTITION,
            "RowKey": time_key,
            "run_id": run_id,
            "created_at": created,
            "updated_at": created,
            **_encode_fields(
                {
                    "status": "pending",
                    "request": dict(request),
                    "scenario_ids": scenarios,
                    "agents_total": len(scenarios),
                }
            ),
        }
        pointer = {"PartitionKey": _RUNS_PARTITION, "RowKey": f"id|{run_id}", "data": time_key}
        try:
            self._table("Runs").submit_transaction([("create", pointer), ("create", data)])
        except TableTransactionError as error:
            if getattr(error, "error_code", None) == "EntityAlreadyExists":
                return False
            raise
        return True

    def _run_key(self, run_id: str) -> str | None:
        validate_run_id(run_id)
        if run_id in self._run_keys:
            return self._run_keys[run_id]
        try:
            pointer = self._table("Runs").get_entity(_RUNS_PARTITION, f"id|{run_id}")
        except ResourceNotFoundError:
            return None
        self._run_keys[run_id] = str(pointer["data"])
        return self._run_keys[run_id]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run's record, or None when there is no such run."""
        for _ in range(2):
            key = self._run_key(run_id)
            if key is None:
                return None
            try:
                return _decode_entity(self._table("Runs").get_entity(_RUNS_PARTITION, key))
            except ResourceNotFoundError:
                # The tables were emptied under a remembered key: look the run up afresh.
                if self._run_keys.pop(run_id, None) is None:
                    return None
        return None

    def list_runs(
        self,
        status: str | None = None,
        created_from: datetime | str | None = None,
        created_to: datetime | str | None = None,
        limit: int = 50,
        continuation: str | None = None,
    ) -> Page:
        """Runs newest first, optionally by status and creation time (from <= t < to).

        Returns (runs, token); pass the token back for the next page, None means no more.
        A page can hold fewer than `limit` runs even when more follow.
        """
        query = "PartitionKey eq @pk and RowKey ge 't|' and RowKey lt 't}'"
        parameters: dict[str, Any] = {"pk": _RUNS_PARTITION}
        if status is not None:
            _check_choice("status", status, RUN_STATUSES)
            query += " and status eq @status"
            parameters["status"] = status
        if created_from is not None:
            query += " and created_at ge @created_from"
            parameters["created_from"] = _as_iso(created_from)
        if created_to is not None:
            query += " and created_at lt @created_to"
            parameters["created_to"] = _as_iso(created_to)
        return self._page("Runs", query, parameters, limit, continuation)

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Merge `fields` (status, counts, finished_at, ...) into the run; LookupError if absent."""
        if "status" in fields:
            _check_choice("status", fields["status"], RUN_STATUSES)
        _check_not_reserved(fields)
        for _ in range(2):
            key = self._run_key(run_id)
            if key is None:
                break
            entity = {"PartitionKey": _RUNS_PARTITION, "RowKey": key, "updated_at": _now()}
            entity.update(_encode_fields(fields))
            try:
                self._table("Runs").update_entity(entity, mode=UpdateMode.MERGE)
                return
            except ResourceNotFoundError:
                if self._run_keys.pop(run_id, None) is None:
                    break
        raise LookupError(f"run {run_id!r} is not recorded")

    # --- agents -----------------------------------------------------------------------

    def upsert_agent(self, run_id: str, agent_id: str, **fields: Any) -> None:
        """Create or merge the agent's row (scenario, phase, status, error, counts, ...)."""
        validate_run_id(run_id)
        validate_agent_id(agent_id)
        if "phase" in fields:
            _check_choice("phase", fields["phase"], AGENT_PHASES)
        _check_not_reserved(fields)
        entity = {
            "PartitionKey": run_id,
            "RowKey": agent_id,
            "run_id": run_id,
            "agent_id": agent_id,
            "updated_at": _now(),
        }
        entity.update(_encode_fields(fields))
        self._table("Agents").upsert_entity(entity, mode=UpdateMode.MERGE)

    def enter_phase(self, run_id: str, agent_id: str, phase: str, **fields: Any) -> None:
        """Move the agent to `phase`, stamping `<phase>_at` (`finished_at` for done and
        failed) the first time only: a retried step keeps when the phase really began."""
        stamp = "finished_at" if phase in ("done", "failed") else f"{phase}_at"
        try:
            began = self._table("Agents").get_entity(run_id, agent_id, select=[stamp]).get(stamp)
        except ResourceNotFoundError:
            began = None
        if not began:
            fields[stamp] = _now()
        self.upsert_agent(run_id, agent_id, phase=phase, **fields)

    def list_agents(self, run_id: str) -> list[dict[str, Any]]:
        """All agents of the run, in index order."""
        validate_run_id(run_id)
        rows = self._table("Agents").query_entities(
            "PartitionKey eq @pk", parameters={"pk": run_id}
        )
        agents = [_decode_entity(row) for row in rows]
        return sorted(agents, key=lambda agent: int(agent["agent_id"][1:]))

    # --- across runs ------------------------------------------------------------------

    def rows_since(
        self,
        table: str,
        since: datetime,
        query: str = "",
        parameters: Mapping[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Rows of `Agents`, `Resources` or `Events` written at or after `since` (the
        service's own Timestamp), every run's, in one paged query rather than one per run.
        Events come decoded from their body; `query` narrows the filter further."""
        if table not in ("Agents", "Resources", "Events"):
            raise ValueError(f"rows_since reads Agents, Resources or Events, not {table!r}")
        where = "Timestamp ge @since" + (f" and {query}" if query else "")
        rows = self._table(table).query_entities(
            where, parameters={"since": since, **(parameters or {})}, results_per_page=1000
        )
        for row in rows:
            if table == "Events":  # rows recorded before `run_id` was: their partition
                yield {"run_id": row.get("run_id", row["PartitionKey"]), **json.loads(row["body"])}
            else:
                yield _decode_entity(row)

    # --- resources --------------------------------------------------------------------

    def record_resource(
        self,
        run_id: str,
        agent_id: str,
        kind: str,
        name: str,
        action: str,
        reason: str | None = None,
    ) -> None:
        """Note that a resource was created, removed or left behind; one row per resource.

        `reason` says why, for a resource left behind (a lock's message, say).

        The row keeps the latest action and when each action happened (`created_at`,
        `removed_at`, `left_at`). Names can hold any character, so the key uses a hash.

        `created` never replaces a later action: agents of a run share one events queue,
        so one agent's poll may record another agent's `resource_created` event after that
        agent's teardown has already recorded the removal.
        """
        validate_run_id(run_id)
        validate_agent_id(agent_id)
        _check_choice("action", action, RESOURCE_ACTIONS)
        digest = hashlib.sha256(f"{kind}\n{name}".encode()).hexdigest()[:32]
        entity = {
            "PartitionKey": run_id,
            "RowKey": f"{agent_id}|{digest}",
            "run_id": run_id,
            "agent_id": agent_id,
            "kind": kind,
            "name": truncate_text(name),
            "action": action,
            f"{action}_at": _now(),
        }
        if reason:
            entity["reason"] = truncate_text(reason)
        table = self._table("Resources")
        if action != "created":
            table.upsert_entity(entity, mode=UpdateMode.MERGE)
            return
        try:
            table.create_entity(entity)
        except ResourceExistsError:
            existing = table.get_entity(entity["PartitionKey"], entity["RowKey"])
            if "created_at" not in existing:  # removal recorded first: keep it, add the time
                stamp = {key: entity[key] for key in ("PartitionKey", "RowKey", "created_at")}
                table.update_entity(stamp, mode=UpdateMode.MERGE)

    def list_resources(self, run_id: str, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Every resource recorded for the run (or one agent), grouped by agent."""
        validate_run_id(run_id)
        query, parameters = "PartitionKey eq @pk", {"pk": run_id}
        if agent_id is not None:
            query += " and agent_id eq @agent"
            parameters["agent"] = agent_id
        rows = self._table("Resources").query_entities(query, parameters=parameters)
        return [_decode_entity(row) for row in rows]

    # --- events -----------------------------------------------------------------------

    def append_events(self, run_id: str, events: Iterable[Mapping[str, Any]]) -> int:
        """Store agent events; returns how many distinct events were written.

        The row key is (time, agent, sequence, event id), so pages come back in time
        order and a redelivered event lands on its own row again instead of a new one.
        """
        validate_run_id(run_id)
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for event in events:
            entity = _event_entity(run_id, event, self._events_span)
            rows[entity["PartitionKey"], entity["RowKey"]] = entity
        # A transaction holds rows of one partition.
        batch: list[Any] = []
        size = 0
        for key in sorted(rows):
            entity = rows[key]
            if batch and (
                len(batch) == _TRANSACTION_OPS
                or size + len(entity["body"]) > _TRANSACTION_CHARS
                or batch[-1][1]["PartitionKey"] != entity["PartitionKey"]
            ):
                self._table("Events").submit_transaction(batch)
                batch, size = [], 0
            batch.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
            size += len(entity["body"])
        if batch:
            self._table("Events").submit_transaction(batch)
        return len(rows)

    def list_events(
        self,
        run_id: str,
        agent_id: str | None = None,
        limit: int = 100,
        continuation: str | None = None,
        since: datetime | str | None = None,
        phase: str | None = None,
        types: Iterable[str] = (),
    ) -> Page:
        """The run's events oldest first, a page at a time: (events, token).

        Filters: one agent; events at or after `since` (row keys start with the time);
        one agent phase (deploy, operate, cleanup); some event types.
        """
        validate_run_id(run_id)
        # The run's partitions (`events_partition`) sort within [run id, run id + "}"),
        # after its own (where runs recorded before keep their events); a run whose id
        # starts with this one's may have rows there too, which `run_id` tells apart.
        query = (
            "PartitionKey ge @pk and PartitionKey lt @pk_end"
            " and ( run_id eq @pk or PartitionKey eq @pk )"
        )
        parameters = {"pk": run_id, "pk_end": run_id + _PARTITIONS_END}
        if agent_id is not None:
            query += " and agent_id eq @agent"
            parameters["agent"] = agent_id
        if since is not None:
            query += " and RowKey ge @since"
            parameters["since"] = _as_iso(since)
        if phase is not None:
            query += " and phase eq @phase"
            parameters["phase"] = phase
        wanted = sorted(set(types))
        if wanted:
            names = [f"type{index}" for index in range(len(wanted))]
            # The SDK substitutes @names split on spaces: keep the parentheses apart.
            query += " and ( " + " or ".join(f"type eq @{name}" for name in names) + " )"
            parameters.update(zip(names, wanted, strict=True))
        rows, token = self._page("Events", query, parameters, limit, continuation)
        return [json.loads(row["body"]) for row in rows], token

    # --- reports ----------------------------------------------------------------------

    def save_report(self, run_id: str, report: Mapping[str, Any]) -> None:
        """Store (or replace) the run's report, split over properties to fit the limits."""
        validate_run_id(run_id)
        text = json.dumps(report, separators=(",", ":"), sort_keys=True)
        parts = [text[i : i + MAX_PROPERTY_CHARS] for i in range(0, len(text), MAX_PROPERTY_CHARS)]
        if len(parts) > _REPORT_MAX_PARTS:
            raise ValueError(f"report of run {run_id!r} is {len(text)} chars, too large to store")
        entity: dict[str, Any] = {
            "PartitionKey": run_id,
            "RowKey": "report",
            "saved_at": _now(),
            "parts": len(parts),
        }
        entity.update({f"part{index:02d}": part for index, part in enumerate(parts)})
        self._table("Reports").upsert_entity(entity, mode=UpdateMode.REPLACE)

    def get_report(self, run_id: str) -> dict[str, Any] | None:
        """The run's report, or None before one was saved."""
        validate_run_id(run_id)
        try:
            entity = self._table("Reports").get_entity(run_id, "report")
        except ResourceNotFoundError:
            return None
        text = "".join(entity[f"part{index:02d}"] for index in range(entity["parts"]))
        report: dict[str, Any] = json.loads(text)
        return report


def _event_entity(run_id: str, event: Mapping[str, Any], span: int) -> dict[str, Any]:
    event_id = _KEY_UNSAFE.sub("_", str(event.get("id") or uuid.uuid4().hex))
    agent = _KEY_UNSAFE.sub("_", str(event.get("agent_id") or "-"))
    try:
        ts = iso_utc(parse_iso_utc(str(event["ts"])))
    except (KeyError, ValueError):
        ts = _now()
    seq = event.get("seq")
    sequence = seq if isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0 else 0
    return {
        "PartitionKey": events_partition(run_id, ts, span),
        "RowKey": f"{ts}|{agent}|{sequence:010d}|{event_id}"[:1000],
        "run_id": run_id,
        "event_id": event_id,
        "agent_id": agent,
        "type": str(event.get("type", "")),
        "phase": str(event.get("phase") or ""),
        "ts": ts,
        "body": fit_event(event),
    }


def events_partition(run_id: str, ts: str, span: int = EVENTS_PARTITION_SECONDS) -> str:
    """The partition of a run's event stamped `ts` (an `iso_utc` time): `<run id>|<start
    of its span of event time>`, e.g. `run-...|2026-12-02T01:04:00` for a minute.

    A run's events in one partition made every write cost the table service a scan of
    the partition (Azurite finds the row to upsert by partition, then row by row): a
    run's event writes cost O(events²), and 30 agents of `./dev run` write 16,000 events.
    Keyed by the time that also starts the row key, the partitions sort in the rows'
    order: one range query reads a run's events in time order, as one partition did
    (runs recorded before have theirs in the partition `run_id`).
    """
    start = int(parse_iso_utc(ts).timestamp()) // span * span
    return f"{run_id}|{datetime.fromtimestamp(start, UTC):%Y-%m-%dT%H:%M:%S}"


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {', '.join(choices)}; got {value!r}")


def _check_not_reserved(fields: Mapping[str, Any]) -> None:
    reserved = sorted(_RESERVED_FIELDS.intersection(fields))
    if reserved:
        raise ValueError(f"cannot update {', '.join(reserved)}: they identify the record")
