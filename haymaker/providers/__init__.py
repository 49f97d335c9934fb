"""Cloud providers behind one interface; `create_provider` picks one from the settings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from haymaker.naming import validate_agent_id
from haymaker.providers.base import Provider
from haymaker.providers.local import LocalProvider

PROVIDERS = ("local", "azure")
# The local provider's test hook: a comma list of agent ids whose launch fails.
FAIL_LAUNCH_SETTING = "HAYMAKER_LOCAL_FAIL_LAUNCH"


def create_provider(settings: Mapping[str, str]) -> Provider:
    """The provider `HAYMAKER_PROVIDER` names (default `local`).

    The local provider reads `AzureWebJobsStorage` (its "cloud" is that storage account),
    `HAYMAKER_STATE_DIR` (default `./.haymaker`), `HAYMAKER_LOCATION` (default `eastus`),
    and hands every `HAYMAKER_AGENT_*` setting on to the agents it launches. Test hook:
    `HAYMAKER_LOCAL_FAIL_LAUNCH=a02,a03` makes launching those agent ids fail (after their
    identity was created), to exercise teardown after a half-done provisioning.
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
            fail_launch=_agent_ids(settings.get(FAIL_LAUNCH_SETTING) or ""),
        )
    if kind == "azure":
        raise NotImplementedError("azure provider: see issue 4")
    raise ValueError(f"HAYMAKER_PROVIDER must be one of {', '.join(PROVIDERS)}; got {kind!r}")


def _agent_ids(text: str) -> list[str]:
    """`a01, a02` -> ["a01", "a02"], each checked to be an agent id."""
    return [validate_agent_id(part.strip()) for part in text.split(",") if part.strip()]
