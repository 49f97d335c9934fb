"""The rules a well-typed scenario must still follow: names, areas, costs, declared and
cleaned-up resources, depth, weights, placeholders and the guardrails on its commands
(haymaker.catalog_rules). Each problem comes with the field path where it breaks, so a
file's problems can name their line.
"""

from __future__ import annotations

import re
from string import Formatter

from haymaker.azure_limits import name_problems, value_problems
from haymaker.catalog_rules import (
    command_problems,
    command_words,
    fill_sample,
    is_create,
    is_read,
    option_values,
    passes_tags,
)
from haymaker.catalog_yaml import EFFECTS, FieldPath
from haymaker.resource_kinds import RESOURCE_KINDS
from haymaker.scenario import (
    AREAS,
    PER_ACTION_PLACEHOLDERS,
    PLACEHOLDERS,
    ResourceRef,
    Scenario,
    Step,
)

MIN_RESOURCES = 4
MIN_DEPLOY_STEPS = 4
MIN_OPERATE_ACTIONS = 8
MAX_WEIGHT = 100
MAX_COST_PER_HOUR_USD = 2.0

_KEBAB = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


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
    problems += _name_problems(scenario, declared)
    for ref, index in declared.items():
        if ref not in created:
            problems.append((("resources", index), f"{_describe(ref)} is never created in deploy"))
        elif ref not in deleted:
            problems.append((("resources", index), f"{_describe(ref)} is never deleted in cleanup"))
    return problems + _depth_problems(scenario)


def _name_problems(
    scenario: Scenario, declared: dict[ResourceRef, int]
) -> list[tuple[FieldPath, str]]:
    """Names Azure would refuse, told at the step that creates the resource (else at the
    resource): the parser does not check them, the service does when deploy runs."""
    creators = {
        step.creates: (index, step.name)
        for index, step in enumerate(scenario.deploy)
        if step.creates is not None
    }
    problems: list[tuple[FieldPath, str]] = []
    for ref, ref_index in declared.items():
        if _template_problems(ref.name):
            continue
        for reason in name_problems(ref.kind, ref.name):
            if ref in creators:
                index, name = creators[ref]
                problems.append((("deploy", index, "creates"), f"step {name!r}: {reason}"))
            else:
                problems.append((("resources", ref_index, "name"), reason))
    return problems


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
        (("name",), reason) for reason in _template_problems(ref.name, "a resource's name")
    ]
    # Private endpoint DNS zones must carry Azure's exact name; each agent has a group
    # of its own, so the name cannot collide.
    fixed_by_azure = ref.name.startswith("privatelink.")
    if kind.top_level and "{prefix}" not in ref.name and not fixed_by_azure:
        problems.append((("name",), f"{ref.kind} names must include {{prefix}} to stay unique"))
    return problems


def _step_problems(phase: str, step: Step) -> list[tuple[FieldPath, str]]:
    where = None if phase == "operate" else f"{phase} steps"
    template = _template_problems(step.command, where)
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
    limits = value_problems(command_words(argv), option_values(argv))
    problems += [(("command",), f"step {step.name!r}: {reason}") for reason in limits]
    creating = step.creates is not None or is_create(argv)
    if creating and "{tags}" not in step.command and step.untagged is None:
        reason = "must pass --tags {tags}, or say why it cannot with 'untagged'"
        problems.append((("command",), reason))
    if step.untagged is not None and (not creating or passes_tags(argv)):
        problems.append((("untagged",), "only for create steps that cannot pass --tags"))
    return problems


def _template_problems(template: str, fixed: str | None = None) -> list[str]:
    """Unknown or malformed placeholders; `fixed` names where the template must come out the
    same every time (a resource's name, which cleanup must find again; deploy and cleanup
    steps, which run once), so the per-action placeholders are refused there."""
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
        elif fixed is not None and name in PER_ACTION_PLACEHOLDERS:
            problems.append(
                f"{{{name}}} changes with every operate action: {fixed} cannot use it "
                "(only operate commands can)"
            )
    return problems


def _describe(ref: ResourceRef | None) -> str:
    return f"{ref.kind} {ref.name!r}" if ref else "nothing"


def dotted(path: FieldPath) -> str:
    """A field path as people write it: deploy[2].command."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "scenario"
