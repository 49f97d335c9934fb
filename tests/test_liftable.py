"""devhost is a tool beside the app, not part of it: the deployed app never imports devhost,
and devhost imports nothing of HayMaker, so it can be lifted out and used on its own."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from haymaker.doctor.imports import import_closure

ROOT = Path(__file__).resolve().parent.parent
HAYMAKER_PACKAGES = {"haymaker", "agent", "orchestrations", "activities", "starters"}


def test_nothing_reachable_from_function_app_imports_devhost() -> None:
    """Walked as the doctor walks the deployment package: every import, lazy ones too."""
    closure = import_closure(ROOT)
    reached = {path.as_posix() for path in closure.app_files}

    assert "haymaker/settings.py" in reached  # the walk does follow the app's imports
    assert sorted(path for path in reached if path.startswith("devhost/")) == []


def test_importing_function_app_loads_no_devhost_module() -> None:
    probe = (
        "import json, sys; import function_app; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'devhost')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_devhost_imports_nothing_of_haymaker() -> None:
    offenders = []
    for path in sorted((ROOT / "devhost").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in HAYMAKER_PACKAGES
            ]
    assert offenders == []


def test_devhost_runs_without_haymaker_installed(tmp_path: Path) -> None:
    """With every HayMaker package made unimportable, devhost still indexes a sample app."""
    sample = ROOT / "devhost" / "examples" / "samples" / "hello"
    probe = (
        "import sys\n"
        f"for name in {sorted(HAYMAKER_PACKAGES)!r}: sys.modules[name] = None\n"
        "from devhost.cli import main\n"
        "from devhost.server import Host, HostOptions\n"
        "from pathlib import Path\n"
        f"host = Host(HostOptions(app_dir=Path({str(sample)!r})))\n"
        "print(sorted(f.name for f in host.index()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['hello_cities', 'http_start', 'say_hello']"


# Top-level imports of devhost's third-party dependencies, and the distribution of each.
DISTRIBUTIONS = {
    "aiohttp": "aiohttp",
    "azure.core": "azure-core",
    "azure.data": "azure-data-tables",
    "azure.durable_functions": "azure-functions-durable",
    "azure.functions": "azure-functions",
    "azure.storage.blob": "azure-storage-blob",
    "azure.storage.queue": "azure-storage-queue",
}


def test_devhosts_own_package_declares_what_devhost_imports() -> None:
    """packaging/devhost/pyproject.toml installs devhost alone: its packages, its command,
    and a dependency for every third-party module devhost imports (lazily too)."""
    project = tomllib.loads((ROOT / "packaging" / "devhost" / "pyproject.toml").read_text())
    declared = {re.split(r"[<>=!~ ]", d)[0] for d in project["project"]["dependencies"]}
    modules = set()
    for path in [*(ROOT / "devhost").glob("*.py"), ROOT / "ncrontab" / "__init__.py"]:
        source = path.read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module)
        # importlib.import_module("azure.durable_functions....") in speedups.py
        modules |= set(re.findall(r'import_module\(\s*"([\w.]+)"', source))
    third_party = {
        module
        for module in modules
        if module.split(".")[0] not in sys.stdlib_module_names | {"devhost", "ncrontab"}
    }
    unmapped = sorted(
        module
        for module in third_party
        if not any(module == key or module.startswith(key + ".") for key in DISTRIBUTIONS)
    )
    needed = {
        DISTRIBUTIONS[key]
        for key in DISTRIBUTIONS
        for module in third_party
        if module == key or module.startswith(key + ".")
    }

    assert project["tool"]["setuptools"]["packages"] == ["devhost", "ncrontab"]
    assert project["project"]["scripts"] == {"devhost": "devhost.cli:main"}
    assert unmapped == []  # a new dependency: add it to DISTRIBUTIONS and the pyproject
    assert needed == declared
