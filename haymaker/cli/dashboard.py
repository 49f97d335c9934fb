"""`haymaker dashboard [--open]`: the web dashboard's address (the app serves the page)."""

from __future__ import annotations

import argparse
import urllib.parse
import webbrowser

from haymaker.cli.output import EXIT_OK, CliError, print_json, show, status_url
from haymaker.cli.target import Target


def dashboard(args: argparse.Namespace, target: Target) -> int:
    if not target.key and target.source == "local devhost":  # as every command says here
        raise CliError(
            "no devhost started here (no keys in .devhost/): start it with `haymaker up` "
            "or pass --url and --key"
        )
    if not target.key:
        raise CliError("the dashboard needs a function key: pass --key or set HAYMAKER_KEY")
    address = f"{target.url}/api/dashboard?" + urllib.parse.urlencode({"code": target.key})
    if args.json:
        print_json({"url": address}, args.show_keys)
    else:
        show(
            f"dashboard: {status_url(address, args.show_keys)}",
            "(--show-keys prints the key, --open opens the page; the page keeps the key in the "
            "tab's session storage and drops it from the address)",
        )
    if args.open and not webbrowser.open(address):
        # The address shown masked would only get a 401: say how to see the key.
        how = "open the address above" if args.show_keys else "run it with --show-keys and open"
        raise CliError(f"no browser could be opened here: {how} the address by hand")
    return EXIT_OK
