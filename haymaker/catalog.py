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
placeholders (``PLACEHOLDERS``; ``{round}``, ``{stamp}`` and ``{n}`` change with every
operate action, so only operate commands may use them, never a resource's name) with
``str.format`` and splits the result with ``shlex.split`` (no shell), so
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
jittered think time between them; now and then a round is idle or busier than usual
(agent.operate_plan). An action of weight 6 comes up
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
name, so sweeps find it and overlapping runs never collide. Names keep to Azure's rule
for their kind and a few numeric options to Azure's range (haymaker.azure_limits): the
CLI's parser takes what the service refuses.

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
from itertools import zip_longest
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from haymaker.catalog_checks import dotted, scenario_problems
from haymaker.catalog_yaml import EFFECTS, PHASES, FieldPath, NodeChecker, compose, construct
from haymaker.resource_kinds import RESOURCE_KINDS, LocalKind, ResourceKind
from haymaker.scenario import AREAS, PLACEHOLDERS, ResourceRef, Scenario, Step
from haymaker.suggest import did_you_mean

__all__ = [
    "AREAS",
    "PLACEHOLDERS",
    "RESOURCE_KINDS",
    "LocalKind",
    "ResourceKind",
    "ResourceRef",
    "Scenario",
    "Step",
]

_UNQUOTED_PLACEHOLDER = re.compile(r":\s+\{(" + "|".join(PLACEHOLDERS) + r")\}")


class CatalogError(ValueError):
    """Problems with the catalog; each reads ``file:line: reason`` when it came from a file."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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
        self._validated: list[str] | None = None

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
        """Every problem: broken files, and scenarios that did not come from files.

        Worked out once (45 ms for the shipped catalog): a catalog never changes, and the
        health check, which a platform's probe may call every few seconds, asks each time.
        """
        if self._validated is None:
            problems = [] if self._by_id else ["the catalog has no scenarios"]
            problems += self.problems()
            for scenario in self.scenarios():
                for path, reason in scenario_problems(scenario):
                    problems.append(f"{scenario.id}: {dotted(path)}: {reason}")
            self._validated = problems
        return list(self._validated)


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
