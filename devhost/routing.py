"""HTTP trigger route templates (ASP.NET Core style, as the Functions host uses them).

Supports `{name}`, optional `{name?}`, catch-all `{*name}`, defaults `{name=value}` and
the constraints `int`, `long`, `bool`, `guid`, `alpha`, `double`, `decimal`, `float`.
More specific routes win: literal segments before parameters, then fewer parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
}
PARAMETER = re.compile(r"\{([^{}]+)\}")


class RouteTemplateError(ValueError):
    pass


@dataclass
class Route:
    template: str
    pattern: re.Pattern[str]
    defaults: dict[str, str]
    literal_segments: int
    parameters: int
    target: Any

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.fullmatch(path.strip("/"))
        if found is None:
            return None
        values = {k: v for k, v in found.groupdict().items() if v is not None}
        return {**self.defaults, **values}

    @property
    def specificity(self) -> tuple[int, int]:
        return (-self.literal_segments, self.parameters)


def _parameter_regex(spec: str, defaults: dict[str, str], template: str) -> tuple[str, bool]:
    """Regex for one `{...}`; the flag says whether the parameter may be absent."""
    catch_all = spec.startswith("*")
    spec = spec.lstrip("*")
    optional = spec.endswith("?")
    spec = spec.rstrip("?")
    default = None
    if "=" in spec:
        spec, default = spec.split("=", 1)
    name, *constraints = spec.split(":")
    if not name.isidentifier():
        raise RouteTemplateError(f"route '{template}': parameter name '{name}' is not valid")
    body = ".*" if catch_all else "[^/]+"
    for constraint in constraints:
        constraint = constraint.split("(", 1)[0]
        if constraint not in CONSTRAINTS:
            raise RouteTemplateError(f"route '{template}': unknown constraint '{constraint}'")
        body = CONSTRAINTS[constraint]
    if default is not None:
        defaults[name] = default
    return f"(?P<{name}>{body})", optional or catch_all or default is not None


def compile_route(template: str, target: Any) -> Route:
    segments = [s for s in template.strip("/").split("/") if s]
    defaults: dict[str, str] = {}
    pattern = ""
    literal = parameters = 0
    for index, segment in enumerate(segments):
        pieces, last = [], 0
        may_be_absent = False
        for found in PARAMETER.finditer(segment):
            pieces.append(re.escape(segment[last : found.start()]))
            regex, absent = _parameter_regex(found.group(1), defaults, template)
            pieces.append(regex)
            may_be_absent = absent and found.start() == 0 and found.end() == len(segment)
            parameters += 1
            last = found.end()
        pieces.append(re.escape(segment[last:]))
        if last == 0:
            literal += 1
        separator = "/" if index else ""
        body = "".join(pieces)
        pattern += f"(?:{separator}{body})?" if may_be_absent else f"{separator}{body}"
    return Route(template, re.compile(pattern), defaults, literal, parameters, target)


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, template: str, target: Any) -> None:
        self.routes.append(compile_route(template, target))
        self.routes.sort(key=lambda r: r.specificity)

    def match(self, path: str) -> list[tuple[Route, dict[str, str]]]:
        """Every route matching the path, most specific first (methods are checked later)."""
        matches = []
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                matches.append((route, params))
        return matches
