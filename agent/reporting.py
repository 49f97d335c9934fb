"""Where the agent's events go: the run's queue, by connection string or by managed identity."""

from __future__ import annotations

from azure.core.exceptions import AzureError

from agent.contract import Contract
from agent.retrying import CLIENT_OPTIONS
from haymaker.events import EventSender, MessageQueue

STORAGE_SCOPE = "https://storage.azure.com/.default"


class ReportingError(RuntimeError):
    """The agent has no way to send its events (so it cannot even report `failed`)."""


def open_sender(contract: Contract) -> EventSender:
    """The sender for the run's queue (its client retries nothing: agent/event_buffer.py does).

    With a managed identity, a token is fetched first: an identity that is missing or not
    allowed fails here, with a message that says so, before anything is created in Azure.
    """
    if contract.events_account_url is None:
        if not contract.storage:  # the contract requires one of the two
            raise ReportingError("no AzureWebJobsStorage to send events with")
        queue = _queue_by_connection(contract.storage, contract.events_queue, contract.mode)
        return EventSender(queue, contract.events_queue)
    # Imported here: a local agent never signs in, and azure.identity is a tenth of its
    # start-up.
    from azure.identity import ManagedIdentityCredential

    url, client_id = contract.events_account_url, contract.events_identity_client_id
    credential = ManagedIdentityCredential(client_id=client_id)
    try:
        credential.get_token(STORAGE_SCOPE)
    except (AzureError, ValueError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ReportingError(
            f"cannot send events to {url} (queue {contract.events_queue}): managed identity "
            f"{client_id} got no token for Azure Storage: {first_line}"
        ) from None
    return EventSender.from_account_url(url, contract.events_queue, credential, **CLIENT_OPTIONS)


def _queue_by_connection(connection_string: str, queue: str, mode: str) -> MessageQueue:
    """In local mode, signed requests where the connection string allows them (an account
    key over http: Azurite's), so a local agent imports no storage SDK; else the SDK's
    client. Imported here: the agent image is live mode only."""
    if mode == "local":
        from agent.local_actions import signed_queue

        signed = signed_queue(connection_string, queue)
        if signed is not None:
            return signed
    from azure.storage.queue import QueueClient

    return QueueClient.from_connection_string(connection_string, queue, **CLIENT_OPTIONS)
