"""Is every function where the worker will find it? Checks shared by the tests and doctor.

The Python worker (v2 model) finds functions only on the one app object in
function_app.py: a decorator in any other module registers on an object the worker never
looks at (or on a second app, which fails indexing), and the host reports "0 functions
found" or silently lacks one. So HayMaker declares every function in function_app.py and
lists them in expected_functions.json; these helpers compare what indexing found with
that list and find decorator lines anywhere else.

Pure: no azure.functions import; the caller indexes the app (devhost.indexer.index_app)
and passes {name: trigger type}.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

EXPECTED_FILE = "expected_functions.json"
SCRIPT_FILE = "function_app.py"

# A decorator that registers a function or adds a binding on an app or blueprint:
# `@app.route(`, `@bp.timer_trigger(`, `@app.durable_client_input(`, `@app.function_name(` ...
DECORATOR = re.compile(
    r"^\s*@\s*(?P<target>[A-Za-z_][\w.]*)\s*\.\s*"
    r"(?P<method>route|function_name|schedule|http_type|retry|\w+_trigger|\w+_input|\w+_output)"
    r"\s*\("
)


def compare_functions(found: Mapping[str, str], expected: Mapping[str, str]) -> list[str]:
    """Problems, one line each, between {name: trigger} found and expected; [] if equal."""
    problems: list[str] = []
    for name in sorted(expected.keys() - found.keys()):
        problems.append(f"missing function '{name}' ({expected[name]})")
    for name in sorted(found.keys() - expected.keys()):
        problems.append(f"unexpected function '{name}' ({found[name]})")
    for name in sorted(found.keys() & expected.keys()):
        if found[name] != expected[name]:
            article = "an" if found[name][:1].lower() in "aeiou" else "a"
            problems.append(
                f"function '{name}' is {article} {found[name]}, expected {expected[name]}"
            )
    return problems


def load_expected(app_dir: Path) -> dict[str, str]:
    """expected_functions.json of the app: {function name: trigger type}."""
    data = json.loads((Path(app_dir) / EXPECTED_FILE).read_text())
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{EXPECTED_FILE} must be a JSON object of name -> trigger type")
    return dict(data)


@dataclass(frozen=True)
class DecoratorLine:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def find_decorators(source: str, path: str = "<source>") -> list[DecoratorLine]:
    """Every function-registering decorator line in one file's source."""
    return [
        DecoratorLine(path, number, text.strip())
        for number, text in enumerate(source.splitlines(), start=1)
        if DECORATOR.match(text)
    ]


def decorators_outside_script(
    root: Path,
    paths: Iterable[str],
    exempt: Iterable[str] = (),
    script: str = SCRIPT_FILE,
) -> list[DecoratorLine]:
    """Decorator lines in the .py files PATHS (relative to ROOT) other than the app script.

    `exempt` holds path prefixes (folders such as "tests/") that hold other apps.
    """
    prefixes = tuple(exempt)
    found: list[DecoratorLine] = []
    for relative in sorted(paths):
        if not relative.endswith(".py") or relative == script or relative.startswith(prefixes):
            continue
        file = Path(root) / relative
        if file.is_file():
            found.extend(find_decorators(file.read_text(errors="replace"), relative))
    return found
