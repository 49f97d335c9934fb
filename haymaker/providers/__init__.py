"""Cloud providers behind one interface; `create_provider` picks one from the settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from haymaker.naming import validate_agent_id
from haymaker.providers.base import Provider

if TYPE_CHECKING:
    from haymaker.settings import Settings
    from haymaker.storage import StorageAccount

PROVIDERS = ("local", "azure")
# The local provider's test hooks: comma lists of agent ids whose launch fails, and
# during whose teardown the host dies.
FAIL_LAUNCH_SETTING = "HAYMAKER_LOCAL_FAIL_LAUNCH"
CRASH_IN_TEARDOWN_SETTING = "HAYMAKER_LOCAL_CRASH_IN_TEARDOWN"
TEST_HOOK_SETTINGS = (FAIL_LAUNCH_SETTING, CRASH_IN_TEARDOWN_SETTING)


def create_provider(settings: Mapping[str, str]) -> Provider:
    """The provider `HAYMAKER_PROVIDER` names (default `local`).

    The local provider reads `AzureWebJobsStorage` (its "cloud" is that storage account),
    `HAYMAKER_STATE_DIR` (default `./.haymaker`), `HAYMAKER_LOCATION` (default `eastus`),
    and hands every `HAYMAKER_AGENT_*` setting on to the agents it launches. The azure
    provider reads the full app settings (haymaker.settings) and reports every problem. Test hooks:
    `HAYMAKER_LOCAL_FAIL_LAUNCH=a02,a03` makes launching those agent ids fail (after their
    identity was created), to exercise teardown after a half-done provisioning;
    `HAYMAKER_LOCAL_CRASH_IN_TEARDOWN=a01` kills the host's process group (SIGKILL) once,
    right after that agent's resources were deleted and before the step recorded it.
    """
    kind = (settings.get("HAYMAKER_PROVIDER") or "local").strip().lower()
    # The providers and the settings are imported when asked for: a local agent imports
    # modules of this package (local_cloud, local_uses), and nothing else of the app.
    if kind == "local":
        from haymaker.providers.local import LocalProvider

        storage = settings.get("AzureWebJobsStorage")
        if not storage:
            identity = any(name.startswith("AzureWebJobsStorage__") for name in settings)
            raise ValueError(
                "AzureWebJobsStorage is not set: the local provider keeps agent resources "
                "in that storage account"
                + (
                    " and hands its connection string to the agents it starts (identity-based "
                    "AzureWebJobsStorage__* settings serve the azure provider only)"
                    if identity
                    else ""
                )
            )
        return LocalProvider(
            storage,
            settings.get("HAYMAKER_STATE_DIR") or Path.cwd() / ".haymaker",
            location=settings.get("HAYMAKER_LOCATION") or "eastus",
            agent_settings={k: v for k, v in settings.items() if k.startswith("HAYMAKER_AGENT_")},
            fail_launch=_agent_ids(settings.get(FAIL_LAUNCH_SETTING) or ""),
            crash_in_teardown=_agent_ids(settings.get(CRASH_IN_TEARDOWN_SETTING) or ""),
        )
    if kind == "azure":
        from haymaker.settings import load_settings

        return azure_provider(load_settings(settings))
    raise ValueError(f"HAYMAKER_PROVIDER must be one of {', '.join(PROVIDERS)}; got {kind!r}")


def azure_provider(settings: Settings) -> Provider:
    """The azure provider for validated settings (`HAYMAKER_PROVIDER=azure`).

    Imported here, not at the top: the Azure management SDKs take a while to import and
    the local provider never needs them.
    """
    if settings.azure is None:
        raise ValueError("HAYMAKER_PROVIDER is not azure: the azure settings were not read")
    from haymaker.providers.azure import AzureProvider

    return AzureProvider(settings.azure, _queue_account_url(settings.storage))


def _queue_account_url(storage: StorageAccount) -> str:
    """Where agents send events: the app account's queue endpoint (never its key), whether
    the app reaches the account with a connection string or with its identity."""
    return storage.queue_account_url


def _agent_ids(text: str) -> list[str]:
    """`a01, a02` -> ["a01", "a02"], each checked to be an agent id."""
    return [validate_agent_id(part.strip()) for part in text.split(",") if part.strip()]
