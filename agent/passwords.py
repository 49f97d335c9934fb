"""A password for a server a scenario creates (an Azure SQL or MySQL admin login).

Made by the agent at its start, never written down: the lifecycle hands it to its
scrubber, so the commands in events and logs carry *** in its place. Azure's rules (8-128
characters, three of upper case, lower case, digits and symbols, not the login's name)
hold for every draw: a fixed upper, lower, digit and symbol lead 24 random URL-safe
characters, and no scenario's login is four characters long.
"""

from __future__ import annotations

import secrets


def new_password() -> str:
    return "Hm7!" + secrets.token_urlsafe(18)
