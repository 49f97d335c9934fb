"""`haymaker dashboard [--open]`: the web dashboard's address (the app serves the page)."""

from __future__ import annotations

import argparse
import urllib.parse
import webbrowser

from haymaker.cli.output import EXIT_OK, CliError, print_json, show, status_url
from haymaker.cli.target import Target


def dashboard(args: argparse.Namespace, target: Target) -> int:
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
        raise CliError("no browser could be opened here: open the address above by hand")
    return EXIT_OK
