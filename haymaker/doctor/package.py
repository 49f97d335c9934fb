"""Group 6: the deployment package, built as the deploy builds it, holds the whole app.

The zip is the app folder minus `.funcignore` (see tree.py). It must hold function_app.py,
host.json, requirements.txt and every app module function_app.py imports, lazily or not,
followed through the app's packages; an import of an app module that does not exist
anywhere is reported too, and so is any import of devhost (a local tool, left out of the
image by .dockerignore). The upstream team's lesson: verify what the package contains,
do not assume the copy worked.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from haymaker.doctor.findings import Finding, failed, listing, passed
from haymaker.doctor.imports import ImportClosure, import_closure
from haymaker.doctor.tree import FUNCIGNORE, package_files

REQUIRED_FILES = ("function_app.py", "host.json", "requirements.txt")


def build_package(app_dir: Path, destination: Path) -> Path:
    """Zip the deployment package of `app_dir` into `destination`; return it."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in package_files(app_dir):
            archive.write(app_dir / relative, relative.as_posix())
    return destination


def check_package(app_dir: Path, closure: ImportClosure | None = None) -> Finding:
    name = "deployment package"
    with tempfile.TemporaryDirectory() as folder:
        archive = build_package(app_dir, Path(folder) / "app.zip")
        with zipfile.ZipFile(archive) as opened:
            contents = set(opened.namelist())
        size = archive.stat().st_size
    closure = import_closure(app_dir) if closure is None else closure
    problems = [f"{f} is not in the package" for f in REQUIRED_FILES if f not in contents]
    problems += [
        f"{path.as_posix()} (imported by the app) is not in the package"
        for path in sorted(closure.app_files)
        if path.as_posix() not in contents and (app_dir / path).is_file()
    ]
    problems += [
        f"{site.file}:{site.line} imports {site.module}, which does not exist"
        for site in closure.unresolved
        if not site.optional
    ]
    problems += [f"cannot parse {error}" for error in closure.syntax_errors]
    dev_host = sorted(path.as_posix() for path in closure.app_files if path.parts[0] == "devhost")
    if dev_host:
        problems.append(
            f"the app imports the local dev host ({', '.join(dev_host)}): the deployed app "
            "must not need devhost; move what it uses into an app module"
        )
    if problems:
        return failed(
            name,
            listing(problems),
            f"add the missing files, or stop {FUNCIGNORE} from excluding them",
        )
    return passed(
        name,
        f"{len(contents)} files, {size // 1024} KiB: function_app.py, host.json, "
        f"requirements.txt and the {len(closure.app_files) - 1} app modules it imports",
    )
