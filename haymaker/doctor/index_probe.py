"""Run as a script in a fresh interpreter: index APP_DIR/function_app.py as the worker does.

    python -S index_probe.py INDEXER_PY APP_DIR [SITE_DIR ...]

The interpreter starts without site processing, so only the app folder and the given
site-packages folders are importable (no editable install of this project can stand in
for a module the app lacks). Prints one JSON object: {"functions": [...]} or
{"error": "...", "detail": "..."}. A fresh process per app also keeps one app's modules
from leaking into the next check.
"""

import gc
import importlib.util
import json
import os
import sys


def main() -> int:
    # The process only imports and exits: the collector's passes over what loads are a
    # sixth of its CPU, and nothing it makes outlives it.
    gc.disable()
    indexer_file, app_dir, *site_dirs = sys.argv[1:]
    sys.path[0] = app_dir  # was this script's folder
    sys.path.extend(site_dirs)
    os.chdir(app_dir)
    spec = importlib.util.spec_from_file_location("_doctor_indexer", indexer_file)
    assert spec is not None and spec.loader is not None
    indexer = importlib.util.module_from_spec(spec)
    sys.modules["_doctor_indexer"] = indexer
    spec.loader.exec_module(indexer)
    from pathlib import Path

    try:
        functions = indexer.index_app(Path(app_dir))
    except indexer.IndexingError as error:
        detail = indexer.format_indexing_error(error)
        print(json.dumps({"error": str(error), "detail": detail}))
        return 0
    described = [
        {"name": f.name, "trigger": f.trigger_type, "bindings": [f.trigger, *f.bindings]}
        for f in functions
    ]
    print(json.dumps({"functions": described}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
