"""Reading a scenario file node by node, so that every problem names its file and line.

Only YAML nodes know their line, so the shape of a file (keys, types) is checked here on
the node tree before the document is built into the model (haymaker.catalog), whose rules
then point back at lines through ``NodeChecker.problem_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import yaml

from haymaker.durations import parse_duration

PHASES = ("deploy", "operate", "cleanup")
EFFECTS = ("creates", "deletes", "uses")
SCENARIO_REQUIRED = (
    "id",
    "title",
    "area",
    "description",
    "cost_per_hour_usd",
    "resources",
    *PHASES,
)
SCENARIO_OPTIONAL = ("duration_hint",)
STEP_REQUIRED = ("name", "command")
STEP_OPTIONAL = (*EFFECTS, "weight", "untagged")
FieldPath = tuple[str | int, ...]
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"


# libyaml when PyYAML was built with it: the pure-Python parser is ~50x slower, and the
# catalog is read at every start and by every check.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Composed(NamedTuple):
    root: yaml.Node | None
    text: str
    problems: list[str]


def construct(root: yaml.Node) -> object:
    """The plain data of a node tree composed by ``compose`` (without parsing again)."""
    return yaml.SafeLoader("").construct_document(root)


def compose(path: Path, unquoted_hint: Callable[[str], bool]) -> Composed:
    """The node tree of ``path``, or the problem that stopped YAML from reading it.

    ``unquoted_hint`` tells, for the offending source line, whether quoting a value that
    starts with a placeholder would fix it (a common slip: ``name: {prefix}-web``).
    """
    text = ""
    try:
        text = path.read_text(encoding="utf-8")
        return Composed(yaml.compose(text, Loader=_LOADER), text, [])
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else 1
        lines = text.splitlines()
        source = lines[line - 1] if line <= len(lines) else ""
        hint = " (quote values that start with a {placeholder})" if unquoted_hint(source) else ""
        return Composed(None, text, [f"{path}:{line}: invalid YAML: {error.problem}{hint}"])
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as error:
        return Composed(None, text, [f"{path}:1: cannot read: {error}"])


class NodeChecker:
    """Checks the shape of a scenario's YAML nodes, noting the line of every field."""

    _TYPE_NAMES = {"int": "a number", "float": "a number", "bool": "true/false", "null": "null"}

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []
        self.lines: dict[FieldPath, int] = {}

    def problem_at(self, where: FieldPath, reason: str) -> None:
        self.problems.append(f"{self.path}:{self.line_of(where)}: {_field(where)}{reason}")

    def line_of(self, where: FieldPath) -> int:
        while where not in self.lines and where:
            where = where[:-1]
        return self.lines.get(where, 1)

    def scenario(self, root: yaml.Node | None) -> None:
        if root is None:
            self.problem_at((), "the file is empty; expected a scenario mapping")
            return
        fields = self._mapping(root, (), SCENARIO_REQUIRED, SCENARIO_OPTIONAL)
        for key in ("id", "title", "area", "description"):
            if key in fields:
                self._text(fields[key], (key,))
        hint = fields.get("duration_hint")
        if hint is not None and self._text(hint, ("duration_hint",)):
            try:
                parse_duration(str(hint.value), "duration_hint")
            except ValueError as error:
                self.problem_at(("duration_hint",), str(error))
        if "cost_per_hour_usd" in fields:
            self._number(fields["cost_per_hour_usd"], ("cost_per_hour_usd",), (_INT, _FLOAT))
        if "resources" in fields:
            self._list(fields["resources"], ("resources",), self._ref)
        for phase in PHASES:
            if phase in fields:
                self._list(fields[phase], (phase,), self._step)

    def _step(self, node: yaml.Node, where: FieldPath) -> None:
        fields = self._mapping(node, where, STEP_REQUIRED, STEP_OPTIONAL)
        for key, value in fields.items():
            if key in EFFECTS:
                self._ref_or_name(value, (*where, key))
            elif key == "weight":
                self._number(value, (*where, key), (_INT,))
            else:
                self._text(value, (*where, key))

    def _ref_or_name(self, node: yaml.Node, where: FieldPath) -> None:
        """A resource: ``{kind, name}``, or the name of one declared under resources."""
        if isinstance(node, yaml.ScalarNode):
            self._text(node, where)
        else:
            self._ref(node, where)

    def _ref(self, node: yaml.Node, where: FieldPath) -> None:
        for key, value in self._mapping(node, where, ("kind", "name"), ()).items():
            self._text(value, (*where, key))

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
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
            self.problem_at(
                where, f"expected text; got {self._kind(node)} (quote it if it is text)"
            )
            return False
        if not str(node.value).strip():
            self.problem_at(where, "must not be empty")
            return False
        return True

    def _number(self, node: yaml.Node, where: FieldPath, tags: tuple[str, ...]) -> None:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in tags:
            expected = "a whole number" if tags == (_INT,) else "a number"
            self.problem_at(where, f"expected {expected}; got {self._kind(node)}")

    def _kind(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        if node.tag == _STR:
            return f"text {str(node.value)!r}"
        return self._TYPE_NAMES.get(node.tag.rsplit(":", 1)[-1], "text")


def _field(where: FieldPath) -> str:
    """``deploy[2].command: `` — the field a problem is about, so a reader finds it at once."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    text = text.lstrip(".")
    return f"{text}: " if text else ""
