"""The scenario catalog: one YAML file per scenario, checked before any agent runs one.

A scenario file ``scenarios/<id>.yaml`` holds one mapping:

``id``                 kebab-case, equal to the file stem
``title``              one line for people
``area``               one of ``AREAS``
``description``        what the scenario imitates and why a tenant would have it
``cost_per_hour_usd``  what its resources cost per hour while they exist, in US dollars
                       (list prices of the SKUs it asks for); runs add these up
                       (haymaker.run_cost) and ``HAYMAKER_MAX_RUN_COST_USD`` caps them
``duration_hint``      optional ISO 8601 duration the scenario needs to look real
``resources``          list of ``{kind, name}``: every resource the deploy phase creates;
                       ``kind`` is a key of ``RESOURCE_KINDS``, ``name`` a template
``deploy``, ``operate``, ``cleanup``
                       lists of steps ``{name, command, creates?, deletes?, uses?,
                       weight?, untagged?}``

``command`` is the Azure CLI command the step stands for. The agent fills the
placeholders with ``str.format`` and splits the result with ``shlex.split`` (no shell), so
write literal braces as ``{{`` and ``}}`` and quote arguments with spaces. Every command
must be one the core Azure CLI (the version pinned in requirements-azure-cli.txt) parses;
``haymaker scenarios validate`` and the tests check that with the CLI's own parser.

A step names its effect on a declared resource with at most one of ``creates`` (deploy
only), ``deletes`` (cleanup only) or ``uses``; the value is ``{kind, name}`` or just the
name of a declared resource. Operate steps must have ``uses``, because the local provider
acts each one out on the resource's local kind: a blob upload to a ``blob_container``, an
entity upsert to a ``table``, a message to a ``queue``.

**Operate weights.** The operate phase is a list of actions, each with a ``weight`` (a
whole number, 1-100). The agent runs rounds until its deadline; each round it draws a
weighted random subset of the actions, without repeats, in the order drawn, with a
jittered think time between them (agent.operate_plan). An action of weight 6 comes up
about three times as often as one of weight 2. Reads (``show``, ``list``, ``query``, ...)
must outweigh writes in total, as in real use. The draw is seeded with the run id and the
agent id: an agent replays the same sequence, two agents of one scenario differ.

**Guardrails** (catalog_rules.py): every command acts inside ``{resource_group}``: no
directory, role, subscription or policy commands, ``--resource-group`` is always
``{resource_group}``, ids point inside it, and each command names the group or a
``{prefix}`` resource. SKUs, sizes and tiers come from ``CHEAP_SKUS``. Every create step
passes ``--tags {tags}``; where the CLI takes no tags for it, the step says why with
``untagged`` (the resource still lives in the tagged group). A resource that sits
directly in the resource group (``top_level`` in its kind) must have ``{prefix}`` in its
name, so sweeps find it and overlapping runs never collide.

**Depth.** Each scenario has at least 4 resources, 4 deploy steps and 8 distinct operate
actions, and its cleanup deletes every resource it declares.

Loading reads YAML node by node, so each problem is reported as ``file:line: field:
reason``. A broken file is left out of the catalog (the others still load) and its
problems are kept: no run can pick it, and health and ``scenarios validate`` report it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import zip_longest
from pathlib import Path
from string import Formatter
from types import MappingProxyType
from typing import Any, NamedTuple

from haymaker.catalog_rules import command_problems, fill_sample, is_create, is_read, passes_tags
from haymaker.catalog_yaml import EFFECTS, PHASES, FieldPath, NodeChecker, compose, construct
from haymaker.durations import format_duration, parse_duration
from haymaker.resource_kinds import RESOURCE_KINDS, LocalKind, ResourceKind
from haymaker.suggest import did_you_mean

__all__ = ["RESOURCE_KINDS", "LocalKind", "ResourceKind"]

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
PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "resource_group": "the agent's own resource group, created before deploy",
        "prefix": "short lowercase letters and digits unique to the run and agent, "
        "starting with a letter; valid inside any Azure resource name",
        "location": "the Azure region the run deploys to, e.g. westeurope",
        "tags": "the HayMaker tags as space-separated key=value pairs, as --tags takes them",
        "run_id": "the run id, e.g. run-20261126-113000-ab12cd",
        "agent_id": "the agent id within the run",
        "subscription_id": "the subscription the agent works in, for resource ids",
    }
)
MIN_RESOURCES = 4
MIN_DEPLOY_STEPS = 4
MIN_OPERATE_ACTIONS = 8
MAX_WEIGHT = 100
MAX_COST_PER_HOUR_USD = 2.0

_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_UNQUOTED_PLACEHOLDER = re.compile(r":\s+\{(" + "|".join(PLACEHOLDERS) + r")\}")


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
    # Operate actions only: how often the agent picks this one relative to the others.
    weight: int | None = None
    # Create steps the CLI cannot tag: why.
    untagged: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "command": self.command}
        for effect in EFFECTS:
            ref = getattr(self, effect)
            if ref is not None:
                data[effect] = ref.to_dict()
        if self.weight is not None:
            data["weight"] = self.weight
        if self.untagged is not None:
            data["untagged"] = self.untagged
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        refs = {e: ResourceRef.from_dict(data[e]) for e in EFFECTS if data.get(e) is not None}
        return cls(
            name=data["name"],
            command=data["command"],
            weight=data.get("weight"),
            untagged=data.get("untagged"),
            **refs,
        )


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
    cost_per_hour_usd: float = 0.0
    duration_hint: timedelta | None = field(default=None)

    def phases(self) -> dict[str, tuple[Step, ...]]:
        return {phase: getattr(self, phase) for phase in PHASES}

    def depth(self) -> dict[str, int]:
        """The figures the catalog promises per scenario."""
        return {
            "resources": len(self.resources),
            "deploy_steps": len(self.deploy),
            "operate_actions": len({step.command for step in self.operate}),
            "cleanup_steps": len(self.cleanup),
        }

    def summary(self) -> dict[str, Any]:
        """What a listing shows: who it is, what it costs, how deep it goes."""
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "description": self.description,
            "cost_per_hour_usd": self.cost_per_hour_usd,
            **self.depth(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "area": self.area,
            "description": self.description,
            "cost_per_hour_usd": self.cost_per_hour_usd,
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
            cost_per_hour_usd=float(data.get("cost_per_hour_usd", 0.0)),
            duration_hint=parse_duration(hint, "duration_hint") if hint else None,
            resources=tuple(ResourceRef.from_dict(ref) for ref in data["resources"]),
            **{phase: tuple(Step.from_dict(step) for step in data[phase]) for phase in PHASES},
        )


class Catalog:
    """The scenarios a run can pick from, by id, and the files that could not be loaded."""

    def __init__(
        self, scenarios: Iterable[Scenario], broken: Mapping[str, list[str]] | None = None
    ) -> None:
        self._by_id: dict[str, Scenario] = {}
        for scenario in scenarios:
            if scenario.id in self._by_id:
                raise CatalogError([f"duplicate scenario id {scenario.id!r}"])
            self._by_id[scenario.id] = scenario
        # Scenario id (the file stem) -> its problems: never picked, never run.
        self.broken: Mapping[str, list[str]] = MappingProxyType(dict(broken or {}))

    def __len__(self) -> int:
        return len(self._by_id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def scenarios(self) -> list[Scenario]:
        return [self._by_id[scenario_id] for scenario_id in self.ids()]

    def get(self, scenario_id: str) -> Scenario:
        if scenario_id in self.broken:
            problems = self.broken[scenario_id]
            raise CatalogError(
                [f"scenario {scenario_id!r} cannot run: {problems[0]}", *problems[1:]]
            )
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
            raise CatalogError(["the catalog has no scenarios", *self.problems()])
        by_area: dict[str, list[Scenario]] = {}
        for scenario in sorted(self._by_id.values(), key=lambda s: _rank(seed, s.id)):
            by_area.setdefault(scenario.area, []).append(scenario)
        areas = sorted(by_area, key=lambda area: _rank(seed, "area:" + area))
        order = [s for turn in zip_longest(*(by_area[a] for a in areas)) for s in turn if s]
        return [order[index % len(order)] for index in range(count)]

    def problems(self) -> list[str]:
        """The problems of the files that could not be loaded."""
        return [problem for problems in self.broken.values() for problem in problems]

    def validate(self) -> list[str]:
        """Every problem: broken files, and scenarios that did not come from files."""
        problems = [] if self._by_id else ["the catalog has no scenarios"]
        problems += self.problems()
        for scenario in self.scenarios():
            for path, reason in scenario_problems(scenario):
                problems.append(f"{scenario.id}: {_dotted(path)}: {reason}")
        return problems


def load_catalog(directory: Path) -> Catalog:
    """Load every ``*.yaml`` file in ``directory``; broken files are kept apart in ``broken``.

    Raises ``CatalogError`` only when there is no catalog at all (no folder, no files).
    """
    if not directory.is_dir():
        raise CatalogError([f"{directory}: not a directory"])
    files = sorted(path for path in directory.iterdir() if path.suffix in (".yaml", ".yml"))
    if not files:
        raise CatalogError([f"{directory}: no scenario files (*.yaml)"])
    broken: dict[str, list[str]] = {}
    found: dict[str, Path] = {}
    scenarios = []
    for path in files:
        parsed = _load_file(path)
        if parsed.problems or parsed.scenario is None:
            broken.setdefault(path.stem, []).extend(parsed.problems)
            continue
        scenario_id = parsed.scenario.id
        if scenario_id in found:
            other = found[scenario_id]
            problem = f"{path}:{parsed.id_line}: id: duplicate id {scenario_id!r} (also in {other})"
            broken.setdefault(path.stem, []).append(problem)
            continue
        found[scenario_id] = path
        scenarios.append(parsed.scenario)
    return Catalog(scenarios, broken)


def validate_path(path: Path) -> list[str]:
    """Problems with one scenario file or a folder of them; empty means valid."""
    if path.is_file():
        return _load_file(path).problems
    try:
        return load_catalog(path).problems()
    except CatalogError as error:
        return error.problems


def scenario_problems(scenario: Scenario) -> list[tuple[FieldPath, str]]:
    """The rules a well-typed scenario must still follow, each with where it breaks."""
    problems: list[tuple[FieldPath, str]] = []
    if not _KEBAB.fullmatch(scenario.id):
        problems.append((("id",), f"{scenario.id!r} is not kebab-case (e.g. storage-backup)"))
    if scenario.area not in AREAS:
        problems.append((("area",), f"unknown area {scenario.area!r}; known: {', '.join(AREAS)}"))
    if not 0 < scenario.cost_per_hour_usd <= MAX_COST_PER_HOUR_USD:
        reason = f"must be more than 0 and at most {MAX_COST_PER_HOUR_USD} (US dollars per hour)"
        problems.append((("cost_per_hour_usd",), reason))
    declared: dict[ResourceRef, int] = {}
    for index, ref in enumerate(scenario.resources):
        problems += [(("resources", index, *where), why) for where, why in _ref_problems(ref)]
        if ref in declared:
            problems.append((("resources", index), f"{_describe(ref)} is declared twice"))
        declared.setdefault(ref, index)
    created: set[ResourceRef] = set()
    deleted: set[ResourceRef] = set()
    for phase, steps in scenario.phases().items():
        if not steps:
            problems.append(((phase,), f"{phase} has no steps; every phase needs at least one"))
        for index, step in enumerate(steps):
            problems += [((phase, index, *w), why) for w, why in _step_problems(phase, step)]
            for effect in EFFECTS:
                ref = getattr(step, effect)
                if ref is not None and ref not in declared:
                    reason = f"{_describe(ref)} is not declared under resources"
                    problems.append(((phase, index, effect), reason))
            if step.creates in created:
                reason = f"{_describe(step.creates)} is already created by an earlier step"
                problems.append(((phase, index, "creates"), reason))
            if step.creates is not None:
                created.add(step.creates)
            if step.deletes is not None:
                deleted.add(step.deletes)
    for ref, index in declared.items():
        if ref not in created:
            problems.append((("resources", index), f"{_describe(ref)} is never created in deploy"))
        elif ref not in deleted:
            problems.append((("resources", index), f"{_describe(ref)} is never deleted in cleanup"))
    return problems + _depth_problems(scenario)


def _depth_problems(scenario: Scenario) -> list[tuple[FieldPath, str]]:
    """Enough to look lived-in, and more reading than writing while it operates."""
    problems: list[tuple[FieldPath, str]] = []
    depth = scenario.depth()
    for key, where, least in (
        ("resources", "resources", MIN_RESOURCES),
        ("deploy_steps", "deploy", MIN_DEPLOY_STEPS),
        ("operate_actions", "operate", MIN_OPERATE_ACTIONS),
    ):
        if depth[key] < least:
            what = key.replace("_", " ")
            problems.append(
                ((where,), f"has {depth[key]} {what}; a scenario needs at least {least}")
            )
    reads = writes = 0
    for step in scenario.operate:
        if _template_problems(step.command) or step.weight is None:
            continue
        if is_read(fill_sample(step.command)):
            reads += step.weight
        else:
            writes += step.weight
    if scenario.operate and reads <= writes:
        reason = (
            f"reads weigh {reads} and writes {writes}: reads must outweigh writes "
            "(raise the weights of show/list steps)"
        )
        problems.append((("operate",), reason))
    return problems


def _ref_problems(ref: ResourceRef) -> list[tuple[FieldPath, str]]:
    kind = RESOURCE_KINDS.get(ref.kind)
    if kind is None:
        known = ", ".join(sorted(RESOURCE_KINDS))
        return [(("kind",), f"unknown resource kind {ref.kind!r}; known: {known}")]
    problems: list[tuple[FieldPath, str]] = [
        (("name",), reason) for reason in _template_problems(ref.name)
    ]
    # Private endpoint DNS zones must carry Azure's exact name; each agent has a group
    # of its own, so the name cannot collide.
    fixed_by_azure = ref.name.startswith("privatelink.")
    if kind.top_level and "{prefix}" not in ref.name and not fixed_by_azure:
        problems.append((("name",), f"{ref.kind} names must include {{prefix}} to stay unique"))
    return problems


def _step_problems(phase: str, step: Step) -> list[tuple[FieldPath, str]]:
    template = _template_problems(step.command)
    problems: list[tuple[FieldPath, str]] = [(("command",), reason) for reason in template]
    effects = [effect for effect in EFFECTS if getattr(step, effect) is not None]
    if len(effects) > 1:
        problems.append(((effects[1],), f"a step has one effect; got {' and '.join(effects)}"))
    if step.creates is not None and phase != "deploy":
        problems.append((("creates",), "only deploy steps may create resources"))
    if step.deletes is not None and phase != "cleanup":
        problems.append((("deletes",), "only cleanup steps may delete resources"))
    if phase == "operate":
        if step.uses is None:
            problems.append(((), "operate steps need 'uses' naming the resource they work on"))
        if step.weight is None:
            problems.append(((), "operate steps need a 'weight' (1-100): how often it is picked"))
        elif not 1 <= step.weight <= MAX_WEIGHT:
            problems.append((("weight",), f"must be 1-{MAX_WEIGHT}, got {step.weight}"))
    elif step.weight is not None:
        problems.append((("weight",), "only operate steps have a weight"))
    if template:
        return problems
    try:
        argv = fill_sample(step.command)
    except ValueError as error:
        return [*problems, (("command",), f"cannot be split into words: {error}")]
    problems += [(("command",), reason) for reason in command_problems(argv)]
    creating = step.creates is not None or is_create(argv)
    if creating and "{tags}" not in step.command and step.untagged is None:
        reason = "must pass --tags {tags}, or say why it cannot with 'untagged'"
        problems.append((("command",), reason))
    if step.untagged is not None and (not creating or passes_tags(argv)):
        problems.append((("untagged",), "only for create steps that cannot pass --tags"))
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


class ParsedFile(NamedTuple):
    """One scenario file read: the scenario (None when unreadable), its problems, and
    ``line_of`` a field path such as ``("deploy", 2, "command")``."""

    scenario: Scenario | None
    problems: list[str]
    id_line: int
    line_of: Callable[[FieldPath], int]


def load_file(path: Path) -> ParsedFile:
    """One scenario file, checked; see ``ParsedFile``."""
    return _load_file(path)


def _load_file(path: Path) -> ParsedFile:
    """Read one file into a Scenario, reporting every problem as ``file:line: field: reason``.

    The YAML node tree is checked first because only nodes know their line; the checked
    document is then built into the model.
    """
    composed = compose(path, lambda line: bool(_UNQUOTED_PLACEHOLDER.search(line)))
    if composed.problems:
        return ParsedFile(None, composed.problems, 1, lambda where: 1)
    checker = NodeChecker(path)
    checker.scenario(composed.root)
    if checker.problems:
        return ParsedFile(None, checker.problems, checker.line_of(("id",)), checker.line_of)
    data = construct(composed.root)  # a mapping: the checker said so
    assert isinstance(data, dict)
    _resolve_names(data, checker)
    if checker.problems:
        return ParsedFile(None, checker.problems, checker.line_of(("id",)), checker.line_of)
    scenario = Scenario.from_dict(data)
    for where, reason in scenario_problems(scenario):
        checker.problem_at(where, reason)
    if scenario.id != path.stem:
        checker.problem_at(("id",), f"id {scenario.id!r} must equal the file stem {path.stem!r}")
    return ParsedFile(scenario, checker.problems, checker.line_of(("id",)), checker.line_of)


def _resolve_names(data: dict[str, Any], checker: NodeChecker) -> None:
    """Turn ``uses: "{prefix}-web"`` into the declared resource of that name, in place."""
    by_name: dict[str, dict[str, Any]] = {}
    for ref in data["resources"]:
        by_name.setdefault(ref["name"], ref)
    for phase in PHASES:
        for index, step in enumerate(data[phase]):
            for effect in EFFECTS:
                value = step.get(effect)
                if not isinstance(value, str):
                    continue
                if value not in by_name:
                    known = ", ".join(sorted(by_name)) or "none"
                    reason = f"no resource named {value!r} is declared; declared: {known}"
                    checker.problem_at((phase, index, effect), reason)
                    continue
                step[effect] = {"kind": by_name[value]["kind"], "name": value}
