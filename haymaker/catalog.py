"""The scenario catalog: one YAML file per scenario, checked before any agent runs one.

A scenario file ``scenarios/<id>.yaml`` holds one mapping:

``id``            kebab-case, equal to the file stem
``title``         one line for people
``area``          one of ``AREAS``
``description``   what the scenario imitates and why a tenant would have it
``duration_hint`` optional ISO 8601 duration the scenario needs to look real
``resources``     list of ``{kind, name}``: every resource the deploy phase creates;
                  ``kind`` is a key of ``RESOURCE_KINDS``, ``name`` a template
``deploy``, ``operate``, ``cleanup``
                  non-empty lists of steps ``{name, command, creates?, deletes?, uses?}``

``command`` is the Azure CLI command the step stands for. The agent fills the
placeholders with ``str.format`` and splits the result with ``shlex.split`` (no shell), so
write literal braces as ``{{`` and ``}}`` and quote arguments with spaces. A step names its
effect on a declared resource with exactly one of ``creates`` (deploy only), ``deletes``
(cleanup only) or ``uses``; operate steps must have ``uses``, because they repeat during
the monitor window and the local provider acts each one out on the resource's local kind:
a blob upload to a ``blob_container``, an entity upsert to a ``table``, a message to a
``queue``. A resource that sits directly in the resource group (``top_level`` in its
kind) must be created by a command that passes ``{tags}`` and must have ``{prefix}`` in its
name, so sweeps find it and overlapping runs never collide.

Loading reads YAML node by node, so each problem is reported as ``file:line: reason``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from itertools import zip_longest
from pathlib import Path
from string import Formatter
from types import MappingProxyType
from typing import Any, NamedTuple

import yaml

from haymaker.durations import format_duration, parse_duration
from haymaker.suggest import did_you_mean

AREAS = (
    "ai-ml",
    "analytics",
    "compute",
    "containers",
    "databases",
    "hybrid",
    "identity",
    "networking",
    "security",
    "web-apps",
)
PHASES = ("deploy", "operate", "cleanup")
PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "resource_group": "the agent's own resource group, created before deploy",
        "prefix": "short lowercase letters and digits unique to the run and agent, "
        "starting with a letter; valid inside any Azure resource name",
        "location": "the Azure region the run deploys to, e.g. westeurope",
        "tags": "the HayMaker tags as space-separated key=value pairs, as --tags takes them",
        "run_id": "the run id, e.g. run-20261126-113000-ab12cd",
        "agent_id": "the agent id within the run",
    }
)


class LocalKind(StrEnum):
    """What the local provider materializes in Azure Storage in place of a cloud resource."""

    BLOB_CONTAINER = "blob_container"
    TABLE = "table"
    QUEUE = "queue"


@dataclass(frozen=True)
class ResourceKind:
    """An Azure resource type and its local stand-in.

    The stand-in follows what the resource mostly holds: files, images and site content
    become a blob container; records, settings and configuration a table; work, messages
    and compute that consumes work a queue.
    """

    azure_type: str
    local_kind: LocalKind
    top_level: bool


_BLOB, _TABLE, _QUEUE = LocalKind.BLOB_CONTAINER, LocalKind.TABLE, LocalKind.QUEUE
RESOURCE_KINDS: Mapping[str, ResourceKind] = MappingProxyType(
    {
        kind: ResourceKind(azure_type, local_kind, top_level)
        for kind, azure_type, local_kind, top_level in (
            ("storage_account", "Microsoft.Storage/storageAccounts", _BLOB, True),
            ("blob_container", "storageAccounts/blobServices/containers", _BLOB, False),
            ("storage_table", "storageAccounts/tableServices/tables", _TABLE, False),
            ("storage_queue", "storageAccounts/queueServices/queues", _QUEUE, False),
            ("cognitive_account", "Microsoft.CognitiveServices/accounts", _QUEUE, True),
            ("eventhubs_namespace", "Microsoft.EventHub/namespaces", _QUEUE, True),
            ("event_hub", "Microsoft.EventHub/namespaces/eventhubs", _QUEUE, False),
            ("log_analytics_workspace", "Microsoft.OperationalInsights/workspaces", _TABLE, True),
            ("virtual_network", "Microsoft.Network/virtualNetworks", _TABLE, True),
            ("vnet_peering", "virtualNetworks/virtualNetworkPeerings", _TABLE, False),
            ("network_security_group", "Microsoft.Network/networkSecurityGroups", _TABLE, True),
            ("nsg_rule", "networkSecurityGroups/securityRules", _TABLE, False),
            ("private_dns_zone", "Microsoft.Network/privateDnsZones", _TABLE, True),
            ("virtual_machine", "Microsoft.Compute/virtualMachines", _QUEUE, True),
            ("function_app", "Microsoft.Web/sites (kind functionapp)", _QUEUE, True),
            ("container_registry", "Microsoft.ContainerRegistry/registries", _BLOB, True),
            ("container_apps_environment", "Microsoft.App/managedEnvironments", _TABLE, True),
            ("container_app", "Microsoft.App/containerApps", _QUEUE, True),
            ("container_group", "Microsoft.ContainerInstance/containerGroups", _QUEUE, True),
            ("cosmosdb_account", "Microsoft.DocumentDB/databaseAccounts", _TABLE, True),
            ("cosmosdb_sql_database", "databaseAccounts/sqlDatabases", _TABLE, False),
            ("cosmosdb_sql_container", "databaseAccounts/sqlDatabases/containers", _TABLE, False),
            ("relay_namespace", "Microsoft.Relay/namespaces", _QUEUE, True),
            ("relay_hybrid_connection", "Relay/namespaces/hybridConnections", _QUEUE, False),
            ("storage_sync_service", "Microsoft.StorageSync/storageSyncServices", _BLOB, True),
            ("storage_sync_group", "storageSyncServices/syncGroups", _BLOB, False),
            ("managed_identity", "Microsoft.ManagedIdentity/userAssignedIdentities", _TABLE, True),
            ("federated_credential", "identities/federatedIdentityCredentials", _TABLE, False),
            ("key_vault", "Microsoft.KeyVault/vaults", _TABLE, True),
            ("key_vault_key", "Microsoft.KeyVault/vaults/keys", _TABLE, False),
            ("app_service_plan", "Microsoft.Web/serverfarms", _TABLE, True),
            ("web_app", "Microsoft.Web/sites", _BLOB, True),
        )
    }
)

_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_EFFECTS = ("creates", "deletes", "uses")
_UNQUOTED_PLACEHOLDER = re.compile(r":\s+\{(" + "|".join(PLACEHOLDERS) + r")\}")
FieldPath = tuple[str | int, ...]


class CatalogError(ValueError):
    """Problems with the catalog; each reads ``file:line: reason`` when it came from a file."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ResourceRef:
    """A resource a scenario works with: its kind and its name template."""

    kind: str
    name: str

    @property
    def local_kind(self) -> LocalKind:
        return RESOURCE_KINDS[self.kind].local_kind

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "local_kind": str(self.local_kind)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceRef:
        return cls(kind=data["kind"], name=data["name"])


@dataclass(frozen=True)
class Step:
    """One CLI command of a phase and the resource it creates, deletes or uses."""

    name: str
    command: str
    creates: ResourceRef | None = None
    deletes: ResourceRef | None = None
    uses: ResourceRef | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "command": self.command}
        for effect in _EFFECTS:
            ref = getattr(self, effect)
            if ref is not None:
                data[effect] = ref.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        refs = {e: ResourceRef.from_dict(data[e]) for e in _EFFECTS if data.get(e) is not None}
        return cls(name=data["name"], command=data["command"], **refs)


@dataclass(frozen=True)
class Scenario:
    """One scenario; ``to_dict`` gives the JSON that orchestration inputs carry."""

    id: str
    title: str
    area: str
    description: str
    resources: tuple[ResourceRef, ...]
    deploy: tuple[Step, ...]
    operate: tuple[Step, ...]
    cleanup: tuple[Step, ...]
    duration_hint: timedelta | None = field(default=None)

    def phases(self) -> dict[str, tuple[Step, ...]]:
        return {phase: getattr(self, phase) for phase in PHASES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "description": self.description,
            "duration_hint": format_duration(self.duration_hint) if self.duration_hint else None,
            "resources": [ref.to_dict() for ref in self.resources],
            **{phase: [step.to_dict() for step in steps] for phase, steps in self.phases().items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        hint = data.get("duration_hint")
        return cls(
            id=data["id"],
            title=data["title"],
            area=data["area"],
            description=data["description"],
            duration_hint=parse_duration(hint, "duration_hint") if hint else None,
            resources=tuple(ResourceRef.from_dict(ref) for ref in data["resources"]),
            **{phase: tuple(Step.from_dict(step) for step in data[phase]) for phase in PHASES},
        )


class Catalog:
    """The scenarios a run can pick from, by id."""

    def __init__(self, scenarios: Iterable[Scenario]) -> None:
        self._by_id: dict[str, Scenario] = {}
        for scenario in scenarios:
            if scenario.id in self._by_id:
                raise CatalogError([f"duplicate scenario id {scenario.id!r}"])
            self._by_id[scenario.id] = scenario

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def scenarios(self) -> list[Scenario]:
        return [self._by_id[scenario_id] for scenario_id in self.ids()]

    def get(self, scenario_id: str) -> Scenario:
        try:
            return self._by_id[scenario_id]
        except KeyError:
            hint = did_you_mean(scenario_id, self.ids())
            known = ", ".join(self.ids()) or "none"
            raise CatalogError(
                [f"unknown scenario {scenario_id!r}{hint}; known: {known}"]
            ) from None

    def select(self, count: int, seed: str) -> list[Scenario]:
        """Pick ``count`` scenarios, the same ones for the same seed (the run id).

        Areas take turns in a seeded order, so a small run still spans many areas; past
        the catalog's size the same order repeats, since agents are told apart by index.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if not self._by_id:
            raise CatalogError(["the catalog has no scenarios"])
        by_area: dict[str, list[Scenario]] = {}
        for scenario in sorted(self._by_id.values(), key=lambda s: _rank(seed, s.id)):
            by_area.setdefault(scenario.area, []).append(scenario)
        areas = sorted(by_area, key=lambda area: _rank(seed, "area:" + area))
        order = [s for turn in zip_longest(*(by_area[a] for a in areas)) for s in turn if s]
        return [order[index % len(order)] for index in range(count)]

    def validate(self) -> list[str]:
        """Problems with scenarios that did not come from files (files are checked on load)."""
        problems = [] if self._by_id else ["the catalog has no scenarios"]
        for scenario in self.scenarios():
            for path, reason in scenario_problems(scenario):
                problems.append(f"{scenario.id}: {_dotted(path)}: {reason}")
        return problems


def load_catalog(directory: Path) -> Catalog:
    """Load every ``*.yaml`` file in ``directory``; raise ``CatalogError`` listing all problems."""
    if not directory.is_dir():
        raise CatalogError([f"{directory}: not a directory"])
    files = sorted(path for path in directory.iterdir() if path.suffix in (".yaml", ".yml"))
    if not files:
        raise CatalogError([f"{directory}: no scenario files (*.yaml)"])
    problems: list[str] = []
    found: dict[str, Path] = {}
    scenarios = []
    for path in files:
        parsed = _load_file(path)
        problems += parsed.problems
        if parsed.scenario is None:
            continue
        scenario_id = parsed.scenario.id
        if scenario_id in found:
            other = found[scenario_id]
            problems.append(
                f"{path}:{parsed.id_line}: duplicate id {scenario_id!r} (also in {other})"
            )
            continue
        found[scenario_id] = path
        scenarios.append(parsed.scenario)
    if problems:
        raise CatalogError(problems)
    return Catalog(scenarios)


def validate_path(path: Path) -> list[str]:
    """Problems with one scenario file or a folder of them; empty means valid."""
    if path.is_file():
        return _load_file(path).problems
    try:
        load_catalog(path)
    except CatalogError as error:
        return error.problems
    return []


def scenario_problems(scenario: Scenario) -> list[tuple[FieldPath, str]]:
    """The rules a well-typed scenario must still follow, each with where it breaks."""
    problems: list[tuple[FieldPath, str]] = []
    if not _KEBAB.fullmatch(scenario.id):
        problems.append((("id",), f"{scenario.id!r} is not kebab-case (e.g. storage-backup)"))
    if scenario.area not in AREAS:
        problems.append((("area",), f"unknown area {scenario.area!r}; known: {', '.join(AREAS)}"))
    declared: dict[ResourceRef, int] = {}
    for index, ref in enumerate(scenario.resources):
        problems += [(("resources", index, *where), why) for where, why in _ref_problems(ref)]
        if ref in declared:
            problems.append((("resources", index), f"{_describe(ref)} is declared twice"))
        declared.setdefault(ref, index)
    created: set[ResourceRef] = set()
    for phase, steps in scenario.phases().items():
        if not steps:
            problems.append(((phase,), f"{phase} has no steps; every phase needs at least one"))
        for index, step in enumerate(steps):
            problems += [((phase, index, *w), why) for w, why in _step_problems(phase, step)]
            for effect in _EFFECTS:
                ref = getattr(step, effect)
                if ref is not None and ref not in declared:
                    reason = f"{_describe(ref)} is not declared under resources"
                    problems.append(((phase, index, effect), reason))
            if step.creates in created:
                reason = f"{_describe(step.creates)} is already created by an earlier step"
                problems.append(((phase, index, "creates"), reason))
            if step.creates is not None:
                created.add(step.creates)
    for ref, index in declared.items():
        if ref not in created:
            problems.append((("resources", index), f"{_describe(ref)} is never created in deploy"))
    return problems


def _ref_problems(ref: ResourceRef) -> list[tuple[FieldPath, str]]:
    kind = RESOURCE_KINDS.get(ref.kind)
    if kind is None:
        known = ", ".join(sorted(RESOURCE_KINDS))
        return [(("kind",), f"unknown resource kind {ref.kind!r}; known: {known}")]
    problems: list[tuple[FieldPath, str]] = [
        (("name",), reason) for reason in _template_problems(ref.name)
    ]
    if kind.top_level and "{prefix}" not in ref.name:
        problems.append((("name",), f"{ref.kind} names must include {{prefix}} to stay unique"))
    return problems


def _step_problems(phase: str, step: Step) -> list[tuple[FieldPath, str]]:
    problems: list[tuple[FieldPath, str]] = [
        (("command",), reason) for reason in _template_problems(step.command)
    ]
    if not step.command.startswith("az "):
        problems.append((("command",), "must be an Azure CLI command starting with 'az '"))
    effects = [effect for effect in _EFFECTS if getattr(step, effect) is not None]
    if len(effects) > 1:
        problems.append(((effects[1],), f"a step has one effect; got {' and '.join(effects)}"))
    if step.creates is not None and phase != "deploy":
        problems.append((("creates",), "only deploy steps may create resources"))
    if step.deletes is not None and phase != "cleanup":
        problems.append((("deletes",), "only cleanup steps may delete resources"))
    if phase == "operate" and step.uses is None:
        problems.append(((), "operate steps need 'uses' naming the resource they work on"))
    kind = RESOURCE_KINDS.get(step.creates.kind) if step.creates else None
    if kind is not None and kind.top_level and "{tags}" not in step.command:
        problems.append(
            (("command",), "must pass --tags {tags} so sweeps can find what it creates")
        )
    return problems


def _template_problems(template: str) -> list[str]:
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in Formatter().parse(template)]
    except ValueError as error:
        return [f"malformed braces ({error}); write literal braces as {{{{ and }}}}"]
    problems = []
    for name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            problems.append(f"unknown placeholder {{{name}}}; known: {known}")
        elif spec or conversion:
            problems.append(f"placeholder {{{name}}} takes no format spec or conversion")
    return problems


def _describe(ref: ResourceRef | None) -> str:
    return f"{ref.kind} {ref.name!r}" if ref else "nothing"


def _dotted(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "scenario"


def _rank(seed: str, value: str) -> bytes:
    """A stable, seed-dependent sort key; unlike ``random`` it shares no global state."""
    return hashlib.sha256(f"{seed}\0{value}".encode()).digest()


class _Parsed(NamedTuple):
    scenario: Scenario | None
    problems: list[str]
    id_line: int


def _load_file(path: Path) -> _Parsed:
    """Read one file into a Scenario, reporting every problem as ``file:line: reason``.

    The YAML node tree is checked first because only nodes know their line; the checked
    document is then built into the model.
    """
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        source = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
        unquoted = _UNQUOTED_PLACEHOLDER.search(source)
        hint = " (quote values that start with a {placeholder})" if unquoted else ""
        return _Parsed(None, [f"{path}:{line}: invalid YAML: {error.problem}{hint}"], 1)
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        return _Parsed(None, [f"{path}:1: cannot read: {error}"], 1)
    checker = _NodeChecker(path)
    checker.scenario(root)
    if checker.problems:
        return _Parsed(None, checker.problems, checker.line_of(("id",)))
    scenario = Scenario.from_dict(yaml.safe_load(text))
    for where, reason in scenario_problems(scenario):
        checker.problem_at(where, reason)
    if scenario.id != path.stem:
        checker.problem_at(("id",), f"id {scenario.id!r} must equal the file stem {path.stem!r}")
    return _Parsed(scenario, checker.problems, checker.line_of(("id",)))


class _NodeChecker:
    """Checks the shape of a scenario's YAML nodes, noting the line of every field."""

    _TYPE_NAMES = {"int": "a number", "float": "a number", "bool": "true/false", "null": "null"}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.lines: dict[FieldPath, int] = {}

    def problem_at(self, where: FieldPath, reason: str) -> None:
        self.problems.append(f"{self.path}:{self.line_of(where)}: {reason}")

    def line_of(self, where: FieldPath) -> int:
        while where not in self.lines and where:
            where = where[:-1]
        return self.lines.get(where, 1)

    def scenario(self, root: yaml.Node | None) -> None:
        if root is None:
            self.problem_at((), "the file is empty; expected a scenario mapping")
            return
        required = ("id", "title", "area", "description", "resources", *PHASES)
        fields = self._mapping(root, (), required, ("duration_hint",))
        for key in ("id", "title", "area", "description"):
            if key in fields:
                self._text(fields[key], (key,))
        hint = fields.get("duration_hint")
        if hint is not None and self._text(hint, ("duration_hint",)):
            self._duration(hint)
        if "resources" in fields:
            self._list(fields["resources"], ("resources",), self._ref)
        for phase in PHASES:
            if phase in fields:
                self._list(fields[phase], (phase,), self._step)

    def _step(self, node: yaml.Node, where: FieldPath) -> None:
        fields = self._mapping(node, where, ("name", "command"), _EFFECTS)
        for key, value in fields.items():
            if key in _EFFECTS:
                self._ref(value, (*where, key))
            else:
                self._text(value, (*where, key))

    def _ref(self, node: yaml.Node, where: FieldPath) -> None:
        for key, value in self._mapping(node, where, ("kind", "name"), ()).items():
            self._text(value, (*where, key))

    def _duration(self, node: yaml.Node) -> None:
        try:
            parse_duration(str(node.value), "duration_hint")
        except ValueError as error:
            self.problem_at(("duration_hint",), str(error))

    def _mapping(
        self,
        node: yaml.Node,
        where: FieldPath,
        required: tuple[str, ...],
        optional: tuple[str, ...],
    ) -> dict[str, yaml.Node]:
        """The known fields of a mapping node; unknown, duplicate and missing keys are problems."""
        self.lines[where] = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            expected = ", ".join(required)
            self.problem_at(where, f"expected a mapping with {expected}; got {self._kind(node)}")
            return {}
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in fields:
                self.problems.append(f"{self.path}:{line}: duplicate key {key!r}")
            elif key not in required and key not in optional:
                allowed = ", ".join((*required, *optional))
                self.problems.append(
                    f"{self.path}:{line}: unknown key {key!r} (allowed: {allowed})"
                )
            else:
                fields[key] = value_node
                self.lines[(*where, key)] = value_node.start_mark.line + 1
        for key in required:
            if key not in fields:
                self.problem_at(where, f"missing key {key!r}")
        return fields

    def _list(
        self, node: yaml.Node, where: FieldPath, check: Callable[[yaml.Node, FieldPath], None]
    ) -> None:
        if not isinstance(node, yaml.SequenceNode):
            self.problem_at(where, f"expected a list; got {self._kind(node)}")
            return
        for index, item in enumerate(node.value):
            self.lines[(*where, index)] = item.start_mark.line + 1
            check(item, (*where, index))

    def _text(self, node: yaml.Node, where: FieldPath) -> bool:
        """Whether ``node`` is non-empty text; YAML reads unquoted ``yes`` or ``10`` otherwise."""
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            self.problem_at(
                where, f"expected text; got {self._kind(node)} (quote it if it is text)"
            )
            return False
        if not str(node.value).strip():
            self.problem_at(where, "must not be empty")
            return False
        return True

    def _kind(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        return self._TYPE_NAMES.get(node.tag.rsplit(":", 1)[-1], "text")
