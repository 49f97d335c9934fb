"""Parse Azure CLI commands with the real CLI's command table and argument parser, offline.

Run by haymaker.azcli_check with the Python that has azure-cli installed (the separate
environment ./dev setup makes from requirements-azure-cli.txt): it imports nothing of
HayMaker. Reads a JSON list of argument lists (the words after ``az``) on standard input
and writes one JSON answer per command to standard output:
``{"error": str | null, "command": str | null, "takes_tags": bool}``.

Nothing is executed and no login is needed: the command table is loaded once, then for
each command only its arguments are loaded and a parser for that one command parses the
words. The table holds the core command modules the commands name, found in the index of
top-level commands that azure-cli ships (commandIndex.latest.json), as `az` itself finds
them; no extensions. Loading every module instead costs about 3 s of CPU, two thirds of a
check of one file; it is the fallback when the shipped index does not fit the installed
CLI. The parser reports an error by printing it and calling ``sys.exit``; the printed
text is the CLI's own message.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import sys
import tempfile
from typing import Any

if __name__ == "__main__":
    # The CLI's modules and command table are tens of thousands of long-lived objects that
    # the collector would scan again and again while they load and while commands are
    # checked: off while they load, then frozen (main); a fifth of a check's CPU.
    gc.disable()
# Set before azure.cli is imported: a private config dir (never ~/.azure), no telemetry,
# no command index on disk, no suggestions from the help examples (short messages).
_CONFIG = tempfile.mkdtemp(prefix="haymaker-azcli-")
os.environ.update(
    {
        "AZURE_CONFIG_DIR": _CONFIG,
        "AZURE_CORE_COLLECT_TELEMETRY": "false",
        "AZURE_CORE_ERROR_RECOMMENDATION": "off",
        "AZURE_CORE_USE_COMMAND_INDEX": "false",
        "AZURE_CORE_NO_COLOR": "true",
        "AZURE_EXTENSION_DIR": os.path.join(_CONFIG, "no-extensions"),
    }
)

from azure.cli.core import CommandIndex, get_default_cli  # noqa: E402
from azure.cli.core.parser import AzCliCommandParser  # noqa: E402

try:  # not in every azure-cli: an older one (HAYMAKER_AZURE_CLI_PYTHON) loads every module
    from azure.cli.core.breaking_change import import_core_breaking_changes
except ImportError:
    import_core_breaking_changes = None

_NOISE = ("aka.ms/", "Read more about the command")
_MODULE_PREFIX = "azure.cli.command_modules."


class Checker:
    def __init__(self, commands: list[list[str]]) -> None:
        """Ready to check `commands` (their modules are loaded)."""
        sys.argv[0] = "az"  # the parser's prog, as it appears in its messages
        self._cli = get_default_cli()
        self._cli.invocation = self._cli.invocation_cls(
            cli_ctx=self._cli,
            commands_loader_cls=self._cli.commands_loader_cls,
            parser_cls=self._cli.parser_cls,
            help_cls=self._cli.help_cls,
        )
        self._loader = self._cli.invocation.commands_loader
        with contextlib.redirect_stderr(io.StringIO()):
            self._load_table(self._modules_of(commands))
        self._table = dict(self._loader.command_table)
        self._parsers: dict[str, AzCliCommandParser] = {}

    def _load_table(self, modules: set[str] | None) -> None:
        loader = self._loader
        load_modules = getattr(loader, "_load_modules", None)
        take_results = getattr(loader, "_process_results_with_timing", None)
        announce = import_core_breaking_changes
        if modules is None or load_modules is None or take_results is None or announce is None:
            loader.load_command_table(None)  # every module
            return
        # What load_command_table does with the modules its index names for one command;
        # here for all the commands at once.
        announce()
        take_results(load_modules(None, sorted(modules)))

    def _modules_of(self, commands: list[list[str]]) -> set[str] | None:
        """The core modules that hold `commands` (by their first word), from the shipped
        index; None when the index is not there or is for another CLI version. A first
        word the index does not know is no core command: no module holds it."""
        packaged = getattr(CommandIndex(self._cli), "get_packaged_core_index", None)
        index = packaged() if packaged is not None else None
        if not index:
            return None
        modules: set[str] = set()
        for words in commands:
            top = _leading(words)[:1]
            for name in index.get(top[0], []) if top else []:
                if name.startswith(_MODULE_PREFIX):
                    modules.add(name.removeprefix(_MODULE_PREFIX))
        return modules

    def check(self, words: list[str]) -> dict[str, Any]:
        command = self._command(words)
        answer: dict[str, Any] = {
            "error": None,
            "command": command,
            "takes_tags": False,
        }
        if command is None:
            group = " ".join(_leading(words))
            answer["error"] = f"'az {group}' is not a command of the core Azure CLI"
            return answer
        parser = self._parser(command)
        # What the parser accepts, not what the command declares: some declare `tags`
        # and hide it.
        options = parser.subparser_map[command]._option_string_actions
        answer["takes_tags"] = "--tags" in options
        printed = io.StringIO()
        try:
            with contextlib.redirect_stderr(printed), contextlib.redirect_stdout(printed):
                parser.parse_args(words)
        except SystemExit:
            answer["error"] = _message(printed.getvalue()) or "the CLI refused the command"
            return answer
        return answer

    def _parser(self, command: str) -> AzCliCommandParser:
        """A parser for one command, built once: loading a command's arguments is most of
        a check's time (its module registers every argument it has: 45 ms for a storage
        command), and a catalog uses many commands more than once."""
        parser = self._parsers.get(command)
        if parser is not None:
            return parser
        loader = self._loader
        loader.command_table = {command: self._table[command]}
        loader.command_name = command
        self._cli.invocation.data["command_string"] = command
        # As `az` does in its one process per command: the module's loaders hold only
        # this command while its arguments load. They apply the argument registry to every
        # command they hold (the CLI's `_update_command_definitions`), so with the commands
        # checked before it still there, a catalog's check grew with the square of its
        # distinct commands: half its time.
        module_loaders = loader.cmd_to_loader_map.get(command, [])
        tables = [module_loader.command_table for module_loader in module_loaders]
        for module_loader, table in zip(module_loaders, tables, strict=True):
            module_loader.command_table = {command: table[command]} if command in table else {}
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                loader.load_arguments(command)
        finally:
            for module_loader, table in zip(module_loaders, tables, strict=True):
                module_loader.command_table = table
        invocation = self._cli.invocation
        parser = AzCliCommandParser(
            cli_ctx=self._cli,
            cli_help=invocation.help,
            prog="az",
            parents=[invocation._global_parser],  # --query, --output, --only-show-errors
        )
        parser.load_command_table(loader)
        self._parsers[command] = parser
        return parser

    def _command(self, words: list[str]) -> str | None:
        """The longest run of leading words that names a command."""
        leading = _leading(words)
        for length in range(len(leading), 0, -1):
            name = " ".join(leading[:length])
            if name in self._table:
                return name
        return None


def _leading(words: list[str]) -> list[str]:
    leading: list[str] = []
    for word in words:
        if word.startswith("-"):
            break
        leading.append(word)
    return leading


def _message(printed: str) -> str:
    lines: list[str] = []
    for line in printed.splitlines():
        line = line.strip()
        if line and line not in lines and not any(noise in line for noise in _NOISE):
            lines.append(line)
    return " ".join(lines)


def main() -> int:
    commands = [list(words) for words in json.load(sys.stdin)]
    checker = Checker(commands)
    gc.freeze()
    gc.enable()
    json.dump([checker.check(words) for words in commands], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
