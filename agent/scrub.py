"""Values that must never leave the agent: every event, log line and printed command is scrubbed."""

from __future__ import annotations

import urllib.parse

from agent.contract import Contract

MASK = "***"


class Scrubber:
    """Replaces each hidden value (and its URL-encoded form) with `***`."""

    def __init__(self) -> None:
        self._hidden: list[str] = []

    @classmethod
    def for_contract(cls, contract: Contract) -> Scrubber:
        """Hides what the contract holds: the storage account key and the client secret."""
        scrubber = cls()
        scrubber.hide(account_key(contract.storage or ""))
        if contract.principal is not None:
            scrubber.hide(contract.principal.client_secret)
        return scrubber

    def hide(self, value: str) -> None:
        for form in (value, urllib.parse.quote(value, safe="")):
            if form and form not in self._hidden:
                self._hidden.append(form)
        # Longest first, so a value containing another is masked whole.
        self._hidden.sort(key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self._hidden:
            text = text.replace(value, MASK)
        return text


def account_key(connection_string: str) -> str:
    """The AccountKey of a storage connection string ('' when it has none)."""
    for part in connection_string.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "accountkey":
            return value
    return ""
