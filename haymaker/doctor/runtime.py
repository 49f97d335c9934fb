"""Group 3: host.json, requirements.txt and the Python version the app declares."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from haymaker.doctor.findings import Finding, failed, listing, passed
from haymaker.doctor.imports import ImportClosure, import_closure

BUNDLE_ID = "Microsoft.Azure.Functions.ExtensionBundle"
# Durable Functions for the Python v2 programming model needs extension bundle 4.x.
DURABLE_BUNDLE = ((4, 0, 0), (5, 0, 0))
HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}|%[A-Za-z0-9_.]+%")
# Python versions Azure Functions 4.x runs (the worker's table).
SUPPORTED_PYTHON = ("3.10", "3.11", "3.12", "3.13")
# Import names whose distribution is named differently, for when it is not installed here.
KNOWN_DISTRIBUTIONS = {
    "azure.functions": "azure-functions",
    "azure.durable_functions": "azure-functions-durable",
    "azure.data.tables": "azure-data-tables",
    "azure.storage.blob": "azure-storage-blob",
    "azure.storage.queue": "azure-storage-queue",
    "azure.core": "azure-core",
    "azure.identity": "azure-identity",
    "azure.keyvault.secrets": "azure-keyvault-secrets",
    "yaml": "pyyaml",
    "dateutil": "python-dateutil",
    "jwt": "pyjwt",
    "msal": "msal",
    "azure.monitor.opentelemetry": "azure-monitor-opentelemetry",
    "opentelemetry.sdk": "opentelemetry-sdk",
    "opentelemetry.exporter.otlp.proto.http": "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry": "opentelemetry-api",
}

Version = tuple[int, int, int]


def check_host_json(app_dir: Path) -> Finding:
    name = "host.json"
    fix = (
        f'set "version": "2.0", extensionBundle {BUNDLE_ID} version "[4.*, 5.0.0)" and '
        "extensions.durableTask.hubName in host.json"
    )
    try:
        host = json.loads((app_dir / "host.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return failed(name, "host.json is missing: the Functions host will not start", fix)
    except ValueError as error:
        return failed(name, f"host.json is not valid JSON: {error}", fix)
    problems = []
    if host.get("version") != "2.0":
        problems.append(f'version is {host.get("version")!r}, the Functions 4.x host needs "2.0"')
    bundle = host.get("extensionBundle") or {}
    if bundle.get("id") != BUNDLE_ID:
        problems.append(f"extensionBundle.id is {bundle.get('id')!r}, expected {BUNDLE_ID}")
    try:
        low, high = parse_version_range(str(bundle.get("version", "")))
        if not _intersects((low, high), DURABLE_BUNDLE):
            problems.append(
                f"extensionBundle.version {bundle.get('version')!r} excludes bundle 4.x, "
                "which Durable Functions for the Python v2 model needs"
            )
    except ValueError as error:
        problems.append(f"extensionBundle.version: {error}")
    durable = (host.get("extensions") or {}).get("durableTask") or {}
    hub = durable.get("hubName")
    if not hub:
        problems.append("extensions.durableTask.hubName is missing (apps sharing storage collide)")
    elif not HUB_NAME.fullmatch(str(hub)):
        problems.append(f"hubName {hub!r} must be 3-45 letters and digits, starting with a letter")
    if problems:
        return failed(name, listing(problems), fix)
    return passed(name, f"version 2.0, bundle {bundle['version']}, hub {hub}")


def parse_version_range(text: str) -> tuple[Version, Version | None]:
    """A NuGet version range as [low, high): `[4.*, 5.0.0)`, `[4.0.0, 5.0.0]`, `4.*`."""
    text = text.strip()
    if not text:
        raise ValueError("no version range")
    if text[0] not in "[(":
        return _version(text), None
    if text[-1] not in ")]" or "," not in text:
        raise ValueError(f"{text!r} is not a version range like [4.*, 5.0.0)")
    low_text, high_text = (part.strip() for part in text[1:-1].split(",", 1))
    low = _version(low_text) if low_text else (0, 0, 0)
    if text[0] == "(":
        low = (low[0], low[1], low[2] + 1)
    if not high_text:
        return low, None
    high = _version(high_text)
    return low, (high[0], high[1], high[2] + 1) if text[-1] == "]" else high


def _version(text: str) -> Version:
    parts = text.split(".")
    if not parts or not all(p == "*" or p.isdigit() for p in parts) or len(parts) > 4:
        raise ValueError(f"{text!r} is not a version")
    numbers = [int(p) if p.isdigit() else 0 for p in parts[:3]] + [0, 0, 0]
    return numbers[0], numbers[1], numbers[2]


def _intersects(a: tuple[Version, Version | None], b: tuple[Version, Version]) -> bool:
    (a_low, a_high), (b_low, b_high) = a, b
    return a_low < b_high and (a_high is None or b_low < a_high)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: Iterable[str]) -> set[str]:
    names = set()
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            names.add(normalize(match.group()))
    return names


@cache
def _installed_modules() -> dict[str, str]:
    """Dotted module name -> distribution, from every installed distribution's file list."""
    index: dict[str, str] = {}
    for dist in metadata.distributions():
        # Read once per distribution: each read parses its whole METADATA file.
        name = normalize(dist.metadata["Name"])
        for file in dist.files or []:
            if file.suffix != ".py" or ".." in file.parts:
                continue
            parts = list(file.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts:
                index.setdefault(".".join(parts), name)
    return index


def distribution_for(module: str) -> str | None:
    """The distribution that provides an import name, or None if nothing says."""
    installed = _installed_modules()
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in installed:
            return installed[prefix]
        if prefix in KNOWN_DISTRIBUTIONS:
            return KNOWN_DISTRIBUTIONS[prefix]
    return None


def check_requirements(app_dir: Path, closure: ImportClosure | None = None) -> Finding:
    name = "requirements.txt"
    path = app_dir / "requirements.txt"
    if not path.is_file():
        return failed(
            name,
            "requirements.txt is missing: the deploy installs nothing",
            "add requirements.txt",
        )
    declared = requirement_names(path.read_text(encoding="utf-8").splitlines())
    closure = import_closure(app_dir) if closure is None else closure
    missing: dict[str, str] = {}
    unknown: list[str] = []
    for site in closure.third_party:
        if site.optional:
            continue
        dist = distribution_for(site.module)
        where = f"{site.file}:{site.line}"
        if dist is None:
            unknown.append(f"{site.module} ({where})")
        elif dist not in declared:
            missing.setdefault(dist, f"{dist} (for {site.module}, {where})")
    if missing or unknown:
        problems = list(missing.values()) + [f"no known package provides {u}" for u in unknown]
        return failed(
            name,
            "function_app.py imports what requirements.txt does not install: " + listing(problems),
            "add " + ", ".join(sorted(missing) or ["the package"]) + " to requirements.txt",
        )
    modules = sorted({site.module for site in closure.third_party})
    return passed(name, f"covers the {len(modules)} third-party imports of function_app.py")


def declared_python_versions(app_dir: Path) -> list[tuple[str, str]]:
    """(where, version) for each Python version the app's build and infra name."""
    found = []
    for path in [app_dir / "Dockerfile", *sorted((app_dir / "infra").rglob("*.bicep*"))]:
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            for match in re.finditer(r"python[^0-9\n]{0,12}?(3\.\d+)", text, re.IGNORECASE):
                found.append((str(path.relative_to(app_dir)), match.group(1)))
    return found


def check_python_version(app_dir: Path) -> Finding:
    name = "python version"
    fix = f"use a Python version Azure Functions supports: {', '.join(SUPPORTED_PYTHON)}"
    problems = []
    floor = None
    pyproject = app_dir / "pyproject.toml"
    if pyproject.is_file():
        spec = tomllib.loads(pyproject.read_text()).get("project", {}).get("requires-python", "")
        match = re.search(r">=\s*(3\.\d+)", spec)
        if match:
            floor = match.group(1)
            if floor not in SUPPORTED_PYTHON:
                problems.append(f"pyproject.toml requires-python {spec!r} starts at {floor}")
    for where, version in declared_python_versions(app_dir):
        if version not in SUPPORTED_PYTHON:
            problems.append(f"{where} names Python {version}")
        elif floor and tuple(map(int, version.split("."))) < tuple(map(int, floor.split("."))):
            problems.append(f"{where} names Python {version}, below requires-python {floor}")
    if problems:
        return failed(name, listing(problems), fix)
    return passed(
        name, f"Python {floor or '(unpinned)'}+; supported: {', '.join(SUPPORTED_PYTHON)}"
    )
