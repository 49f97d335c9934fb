"""Index an app's function_app.py the way the Python worker does (v2 programming model).

The worker imports the script as a module, looks at its top-level attributes for exactly
one `azure.functions.FunctionRegister` (FunctionApp or DFApp), and calls
`get_functions()` on it once. Any exception means the host reports zero functions, so
indexing here is all-or-nothing: it returns the complete list or raises IndexingError.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

SCRIPT_FILE_SETTING = "PYTHON_SCRIPT_FILE_NAME"
DEFAULT_SCRIPT_FILE = "function_app.py"

HTTP = "httpTrigger"
TIMER = "timerTrigger"
ORCHESTRATION = "orchestrationTrigger"
ACTIVITY = "activityTrigger"
ENTITY = "entityTrigger"
QUEUE = "queueTrigger"
DURABLE_CLIENT = "durableClient"
# The triggers devhost serves (see require_served).
SUPPORTED_TRIGGERS = (HTTP, TIMER, QUEUE, ORCHESTRATION, ACTIVITY)


class IndexingError(Exception):
    """The app cannot be indexed; the message is the worker's, the cause is chained."""


@dataclass
class IndexedFunction:
    """One discovered function: its name, trigger binding and the callable to invoke."""

    name: str
    trigger_type: str
    trigger: dict[str, Any]
    bindings: list[dict[str, Any]]
    user_function: Any
    # The parameter the durable client binding goes to, if the function has one.
    durable_client_param: str | None = None
    # Set from the app setting AzureWebJobs.<name>.Disabled, as the Functions host does.
    disabled: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel", "function")).lower()

    @property
    def route(self) -> str:
        return str(self.trigger.get("route") or self.name)

    @property
    def methods(self) -> list[str]:
        return [str(m).upper() for m in self.trigger.get("methods") or []]

    def describe(self) -> str:
        """One line per function, as Core Tools prints after 'Found the following functions:'."""
        if self.trigger_type == HTTP:
            methods = ",".join(self.methods) or "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS"
            return f"{self.name}: [{methods}] {self.route}  (httpTrigger, {self.auth_level})"
        if self.trigger_type == TIMER:
            return f"{self.name}: timerTrigger  schedule '{self.trigger.get('schedule')}'"
        return f"{self.name}: {self.trigger_type}"


def _plain(value: Any) -> Any:
    """Binding dicts hold enums (direction, auth level, methods); keep their string values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    enum_value = getattr(value, "value", None)
    if enum_value is not None and not isinstance(value, (str, int, float, bool)):
        return enum_value
    return value


def load_script_module(app_dir: Path, script_file: str = DEFAULT_SCRIPT_FILE) -> Any:
    """Import the app's script with the app root on sys.path, as the worker does."""
    script = app_dir / script_file
    if not script.is_file():
        raise IndexingError(f"{script_file} not found in {app_dir}")
    root = str(app_dir.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    module_name = Path(script_file).stem
    spec = importlib.util.spec_from_file_location(module_name, script)
    if spec is None or spec.loader is None:
        raise IndexingError(f"cannot load {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(module_name, None)
        raise IndexingError(
            f"Worker failed to index functions: importing {script_file} raised "
            f"{type(error).__name__}: {error}"
        ) from error
    return module


def find_function_register(module: Any, script_file: str = DEFAULT_SCRIPT_FILE) -> Any:
    registers = [
        value for value in vars(module).values() if isinstance(value, func.FunctionRegister)
    ]
    if not registers:
        raise IndexingError(f"Could not find top level function app instances in {script_file}.")
    if len(registers) > 1:
        raise IndexingError(
            f"More than one top level function app instances found in {script_file}: "
            f"{len(registers)}. Only one FunctionApp (or DFApp) may be defined at module level."
        )
    return registers[0]


def is_disabled(name: str, settings: dict[str, str]) -> bool:
    """The host's switch to keep a function from being triggered without removing it."""
    value = settings.get(f"AzureWebJobs.{name}.Disabled", "")
    return value.strip().lower() in ("true", "1")


def describe_function(function: Any) -> IndexedFunction:
    bindings = [_plain(b.get_dict_repr()) for b in function.get_bindings()]
    trigger = _plain(function.get_trigger().get_dict_repr())
    user_function = function.get_user_function()
    client_param = next((b["name"] for b in bindings if b.get("type") == DURABLE_CLIENT), None)
    return IndexedFunction(
        name=function.get_function_name(),
        trigger_type=trigger["type"],
        trigger=trigger,
        bindings=bindings,
        user_function=user_function,
        durable_client_param=client_param,
    )


def index_app(app_dir: Path, script_file: str = DEFAULT_SCRIPT_FILE) -> list[IndexedFunction]:
    """All functions the worker would find in APP_DIR/function_app.py, or IndexingError."""
    module = load_script_module(app_dir, script_file)
    app = find_function_register(module, script_file)
    try:
        functions = app.get_functions()
        return [describe_function(f) for f in functions]
    except Exception as error:
        raise IndexingError(
            f"Worker failed to index functions: {type(error).__name__}: {error}"
        ) from error


def require_served(functions: list[IndexedFunction]) -> None:
    """IndexingError naming every function whose trigger devhost does not serve.

    Apart from `index_app`, which indexes as the worker does (the doctor uses it for apps
    with any trigger): a host must not start with functions that would never run.
    """
    unserved = [f for f in functions if f.trigger_type not in SUPPORTED_TRIGGERS]
    if unserved:
        named = ", ".join(f"{f.name} ({f.trigger_type})" for f in unserved)
        raise IndexingError(
            f"devhost does not serve the trigger of {named}; it serves "
            f"{', '.join(SUPPORTED_TRIGGERS)}"
        )


def format_indexing_error(error: IndexingError) -> str:
    """The message plus the cause's traceback, for a user fixing their app."""
    cause = error.__cause__
    if cause is None:
        return str(error)
    details = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return f"{error}\n{details}"
