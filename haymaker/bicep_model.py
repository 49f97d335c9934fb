"""Bicep files as parsed by pycep, and how to follow values through them.

pycep turns each file into JSON-like data: parameters, variables, resources, modules and
outputs, with expressions as nested operator/function dicts and identifiers as bare
strings. `BicepTree` loads every file under infra/ and answers the questions the infra
checks ask: which resource is the function app, which workload profiles exist, and what
values an expression can take once variables, module parameters (what each caller
passes), defaults and parameter files are followed.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclass
class BicepFile:
    path: Path
    model: dict[str, Any]
    text: str

    @property
    def scope(self) -> str:
        return str(self.model.get("globals", {}).get("scope", {}).get("value", "resourceGroup"))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model.get("parameters", {}))

    @property
    def variables(self) -> dict[str, Any]:
        return {name: v["value"] for name, v in self.model.get("variables", {}).items()}

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.model.get("outputs", {}))

    def resources(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, resource in self.model.get("resources", {}).items():
            yield name, {**resource, "config": unwrap(resource["config"])}

    def modules(self) -> Iterator[tuple[str, Path | None, dict[str, Any]]]:
        """(symbol, local file or None for registry modules, config)."""
        for name, module in self.model.get("modules", {}).items():
            local = (
                self.path.parent / module["detail"]["path"] if module["type"] == "local" else None
            )
            yield name, local, unwrap(module["config"])

    def default(self, param: str) -> Any:
        return self.params[param].get("default")

    def decorator(self, param: str, kind: str) -> Any:
        for decorator in self.params[param].get("decorators", []):
            if decorator["type"] == kind:
                return decorator.get("argument", True)
        return None


def parse_bicep(text: str) -> dict[str, Any]:
    """One file's model, the caller's own copy (the checks may change what they are given)."""
    return copy.deepcopy(_parsed(text))


# Parsing is the infra checks' cost (lark, in Python: 0.15 s for infra/), and the doctor,
# the deploy check and the tests check the same files again and again in one process.
@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> dict[str, Any]:
    return dict(_parser().parse(text=text))


@functools.cache
def _parser() -> Any:
    from pycep import BicepParser  # the parser builds a grammar: only when checking

    return BicepParser()


@dataclass
class BicepTree:
    """Every .bicep file under ROOT/infra, parsed (or the parser's complaint)."""

    root: Path
    files: dict[Path, BicepFile] = field(default_factory=dict)
    parse_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for path in sorted((self.root / "infra").rglob("*.bicep")):
            text = path.read_text(encoding="utf-8")
            try:
                self.files[path.resolve()] = BicepFile(path, parse_bicep(text), text)
            except Exception as error:  # a grammar error, whatever lark raised
                self.parse_errors.append(f"{self.rel(path)}: {str(error).splitlines()[0]}")

    def rel(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def function_apps(self) -> Iterator[tuple[BicepFile, str, dict[str, Any]]]:
        for bicep in self.files.values():
            for symbol, resource in bicep.resources():
                config = resource["config"]
                kind = str(config.get("kind", ""))
                native = resource["type"] == "Microsoft.App/containerApps" and "functionapp" in kind
                site = resource["type"] == "Microsoft.Web/sites" and "azurecontainerapps" in kind
                if native or site:
                    yield bicep, symbol, config

    def workload_profiles(self) -> Iterator[tuple[BicepFile, dict[str, Any]]]:
        for bicep in self.files.values():
            for _, resource in bicep.resources():
                if resource["type"] == "Microsoft.App/managedEnvironments":
                    properties = resource["config"].get("properties", {})
                    for profile in properties.get("workloadProfiles", []) or []:
                        if isinstance(profile, dict):
                            yield bicep, profile

    def callers(self, module: BicepFile) -> Iterator[tuple[BicepFile, dict[str, Any]]]:
        for bicep in self.files.values():
            for _, path, config in bicep.modules():
                if path is not None and path.resolve() == module.path.resolve():
                    yield bicep, config.get("params", {})

    def resolve(
        self,
        bicep: BicepFile,
        expr: Any,
        traversed: list[tuple[BicepFile, str]] | None = None,
        depth: int = 0,
    ) -> list[tuple[Any, str]]:
        """The values an expression can take: literals through variables, module parameters
        (what each caller passes) and top-level parameters (default and parameter files)."""
        traversed = [] if traversed is None else traversed
        if depth > 12 or not isinstance(expr, str) or not IDENTIFIER.fullmatch(expr):
            return [(expr, self.rel(bicep.path))] if expr is not None else []
        if expr in bicep.variables:
            return self.resolve(bicep, bicep.variables[expr], traversed, depth + 1)
        if expr not in bicep.params:
            return [(expr, self.rel(bicep.path))]
        traversed.append((bicep, expr))
        callers = list(self.callers(bicep))
        values: list[tuple[Any, str]] = []
        for caller, params in callers:
            if expr in params:
                values += self.resolve(caller, params[expr], traversed, depth + 1)
            elif bicep.default(expr) is not None:
                values.append((bicep.default(expr), f"{self.rel(bicep.path)} default of {expr}"))
        if not callers:
            if bicep.default(expr) is not None:
                values.append((bicep.default(expr), f"{self.rel(bicep.path)} default of {expr}"))
            for path, parameters in self.parameter_file_values().items():
                if expr in parameters:
                    values.append((parameters[expr], self.rel(path)))
        return values

    def guids_in(self, bicep: BicepFile, expr: Any, resource: dict[str, Any]) -> set[str]:
        """Role GUIDs an expression can name, following variables and a loop's source."""
        sources = [expr]
        loop = resource["config"].get("loop")
        if loop is not None:
            sources.append(loop)
        found: set[str] = set()
        seen: set[str] = set()
        while sources:
            item = sources.pop()
            for text in strings(item) | identifiers(item):
                found |= {g.lower() for g in GUID.findall(text)}
                if text in bicep.variables and text not in seen:
                    seen.add(text)
                    sources.append(bicep.variables[text])
        return found

    def parameter_file_values(self) -> dict[Path, dict[str, Any]]:
        files = [self.root / "infra/main.parameters.json"]
        files += sorted((self.root / "infra/env").glob("*.parameters.json"))
        values = {}
        for path in files:
            if path.exists():
                document = json.loads(path.read_text(encoding="utf-8"))
                values[path] = {
                    name: entry.get("value")
                    for name, entry in document.get("parameters", {}).items()
                }
        return values


def unwrap(config: Any) -> dict[str, Any]:
    """A resource's or module's own config, out of `if (...)` and `[for ...]` wrappers;
    a loop keeps its source under "loop" (role ids may come from the looped collection)."""
    loop = None
    while (
        isinstance(config, dict)
        and "config" in config
        and ("loop_type" in config or "condition" in config)
    ):
        loop = config.get("loop_type", loop)
        config = config["config"]
    result = dict(config) if isinstance(config, dict) else {}
    if loop is not None:
        result.setdefault("loop", loop)
    return result


def strings(value: Any) -> set[str]:
    """Every string in a parsed value (keys with interpolations included), decorators'
    prose (descriptions) left out."""
    found: set[str] = set()
    if isinstance(value, str):
        found.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "${" in key:
                found.add(key)
            if key != "decorators":
                found |= strings(item)
    elif isinstance(value, list):
        for item in value:
            found |= strings(item)
    return found


def identifiers(value: Any) -> set[str]:
    """Names a parsed value refers to. Property names after a dot are not references."""
    found: set[str] = set()
    if isinstance(value, str):
        if IDENTIFIER.fullmatch(value):
            found.add(value)
        for inner in INTERPOLATION.findall(value):
            found |= set(IDENTIFIER.findall(inner))
    elif isinstance(value, dict):
        operator = value.get("operator")
        if isinstance(operator, dict) and operator.get("type") == "property_accessor":
            return identifiers(operator["operands"]["operand_1"])
        for key, item in value.items():
            if "${" in key:
                found |= identifiers(key.strip("'"))
            if key != "decorators":
                found |= identifiers(item)
    elif isinstance(value, list):
        for item in value:
            found |= identifiers(item)
    return found


def function_type(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        return str(value["function"].get("type"))
    return None


def settings_in(model: Any) -> dict[str, Any]:
    """App-setting-like pairs anywhere in a model: object keys, and {name, value} entries."""
    found: dict[str, Any] = {}
    if isinstance(model, dict):
        if isinstance(model.get("name"), str) and "value" in model:
            found[model["name"]] = model["value"]
        for key, item in model.items():
            found.setdefault(key.strip("'"), item)
            found.update(settings_in(item))
    elif isinstance(model, list):
        for item in model:
            found.update(settings_in(item))
    return found


def output_references(value: Any) -> Iterator[tuple[str, str]]:
    """(symbol, output) for every `symbol.outputs.output...` in a parsed value."""
    if isinstance(value, dict):
        operator = value.get("operator")
        if isinstance(operator, dict) and operator.get("type") == "property_accessor":
            head, rest = operator["operands"]["operand_1"], operator["operands"]["operand_2"]
            if isinstance(head, str) and isinstance(rest, dict):
                inner = rest.get("operator", {})
                if inner.get("type") == "property_accessor":
                    first, output = inner["operands"]["operand_1"], inner["operands"]["operand_2"]
                    if first == "outputs":
                        if isinstance(output, dict):
                            output = output.get("operator", {}).get("operands", {}).get("operand_1")
                        if isinstance(output, str):
                            yield head, output
        for item in value.values():
            yield from output_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from output_references(item)
