"""What function_app.py imports, followed through the app's own modules, read statically.

Every import counts, including the lazy ones inside function bodies (the thin-wrapper
pattern imports its implementation on first call, so a missing module there fails only in
production). Imports under `if TYPE_CHECKING:` are skipped; imports in a `try` whose
handler catches ImportError are optional.
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

ENTRY_SCRIPT = "function_app.py"


@dataclass(frozen=True)
class ImportSite:
    module: str
    file: Path
    line: int
    optional: bool


@dataclass
class ImportClosure:
    """The app modules reached from the entry script, and what they import from outside."""

    app_files: set[Path] = field(default_factory=set)
    third_party: list[ImportSite] = field(default_factory=list)
    unresolved: list[ImportSite] = field(default_factory=list)
    syntax_errors: list[str] = field(default_factory=list)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    names: list[str] = []
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names += [k.id for k in kinds if isinstance(k, ast.Name)]
    return bool({"ImportError", "ModuleNotFoundError", "Exception"} & set(names))


class _Collector(ast.NodeVisitor):
    """(module, line, optional, names) for every import, relative ones made absolute."""

    def __init__(self, package: str) -> None:
        self.package = package
        self.optional = 0
        self.found: list[tuple[str, int, bool, list[str]]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        optional = _catches_import_error(node.handlers)
        self.optional += optional
        for child in node.body:
            self.visit(child)
        self.optional -= optional
        rest: list[ast.AST] = [*node.handlers, *node.orelse, *node.finalbody]
        for part in rest:
            self.visit(part)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, node.lineno, self.optional > 0, []))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level:
            base = self.package.split(".") if self.package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            module = ".".join([*base, module] if module else base)
        names = [alias.name for alias in node.names if alias.name != "*"]
        self.found.append((module, node.lineno, self.optional > 0, names))


def app_module_file(app_dir: Path, dotted: str) -> Path | None:
    """The file of an app module (relative to the app folder), or None if there is none."""
    parts = dotted.split(".")
    package = app_dir.joinpath(*parts)
    if (package / "__init__.py").is_file():
        return (package / "__init__.py").relative_to(app_dir)
    if package.with_suffix(".py").is_file():
        return package.with_suffix(".py").relative_to(app_dir)
    return None


def is_app_top_level(app_dir: Path, name: str) -> bool:
    """Whether a top-level import name is the app's own (a module or package in its folder)."""
    if (app_dir / f"{name}.py").is_file():
        return True
    folder = app_dir / name
    return folder.is_dir() and any(folder.glob("*.py"))


def _module_name(relative: Path) -> tuple[str, str]:
    """(module name, package it lives in) of an app file."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def import_closure(app_dir: Path, entry: str = ENTRY_SCRIPT) -> ImportClosure:
    closure = ImportClosure()
    pending = [Path(entry)]
    while pending:
        relative = pending.pop()
        if relative in closure.app_files:
            continue
        closure.app_files.add(relative)
        _name, package = _module_name(relative)
        try:
            text = (app_dir / relative).read_text(encoding="utf-8")
            found = _imports_in(text, str(relative), package)
        except (SyntaxError, UnicodeDecodeError, OSError) as error:
            closure.syntax_errors.append(f"{relative}: {error}")
            continue
        for module, line, optional, names in found:
            site = ImportSite(module, relative, line, optional)
            top = module.split(".")[0]
            if not module or top == "__future__" or top in sys.stdlib_module_names:
                continue
            if not is_app_top_level(app_dir, top):
                closure.third_party.append(site)
                continue
            files = _app_files_for(app_dir, module, names)
            if files is None:
                closure.unresolved.append(site)
            else:
                pending.extend(files)
    return closure


# Parsing is most of the closure's cost, and the doctor and the tests read the same files
# again and again in one process: the answer depends only on the text and where it lives.
@functools.lru_cache(maxsize=1024)
def _imports_in(
    text: str, filename: str, package: str
) -> tuple[tuple[str, int, bool, list[str]], ...]:
    """Every import in one file's text: (module, line, inside try/except, names)."""
    collector = _Collector(package)
    collector.visit(ast.parse(text, filename))
    return tuple(collector.found)


def _app_files_for(app_dir: Path, module: str, names: list[str]) -> list[Path] | None:
    """The files importing `module` (and `from module import names`) loads: every parent
    package's __init__.py, the module, and each name that is itself a submodule."""
    parts = module.split(".")
    files: list[Path] = []
    for depth in range(1, len(parts) + 1):
        found = app_module_file(app_dir, ".".join(parts[:depth]))
        if found is None:
            if (app_dir.joinpath(*parts[:depth])).is_dir():
                continue  # a namespace package: no __init__.py to load
            return None
        files.append(found)
    for name in names:
        submodule = app_module_file(app_dir, f"{module}.{name}")
        if submodule is not None:
            files.append(submodule)
    return files
