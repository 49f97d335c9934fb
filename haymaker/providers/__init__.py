"""Cloud providers behind one interface; `create_provider` picks one from the settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from haymaker.providers.base import Provider
from haymaker.providers.local import LocalProvider

PROVIDERS = ("local", "azure")


def create_provider(settings: Mapping[str, str]) -> Provider:
    """The provider `HAYMAKER_PROVIDER` names (default `local`).

    The local provider reads `AzureWebJobsStorage` (its "cloud" is that storage account),
    `HAYMAKER_STATE_DIR` (default `./.haymaker`), `HAYMAKER_LOCATION` (default `eastus`),
    and hands every `HAYMAKER_AGENT_*` setting on to the agents it launches.
    """
    kind = (settings.get("HAYMAKER_PROVIDER") or "local").strip().lower()
    if kind == "local":
        storage = settings.get("AzureWebJobsStorage")
        if not storage:
            raise ValueError(
                "AzureWebJobsStorage is not set: the local provider keeps agent resources "
                "in that storage account"
            )
        return LocalProvider(
            storage,
            settings.get("HAYMAKER_STATE_DIR") or Path.cwd() / ".haymaker",
            location=settings.get("HAYMAKER_LOCATION") or "eastus",
            agent_settings={k: v for k, v in settings.items() if k.startswith("HAYMAKER_AGENT_")},
        )
    if kind == "azure":
        raise NotImplementedError("azure provider: see issue 4")
    raise ValueError(f"HAYMAKER_PROVIDER must be one of {', '.join(PROVIDERS)}; got {kind!r}")
