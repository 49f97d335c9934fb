import sys
from importlib.util import find_spec

try:
    # The CLI loads rich only when a command prints a table: look for it first, so that a
    # Python without the project's packages says so before any command runs.
    if find_spec("rich") is None:
        raise ModuleNotFoundError("No module named 'rich'", name="rich")
    from haymaker.cli import main
except ModuleNotFoundError as missing:
    # The system Python without the project's packages: say how to run it instead.
    sys.stderr.write(
        f"haymaker: error: {missing.name!r} is not installed for {sys.executable}: run "
        "`./dev haymaker ...` (it sets up .venv first), or `.venv/bin/haymaker ...` "
        "after `./dev setup`\n"
    )
    sys.exit(2)

sys.exit(main())
