"""The services an app process needs, built once from its settings.

Activities and HTTP handlers of one host process share these clients (settings are read
and validated on first use, with every problem reported at once).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from haymaker.catalog import Catalog, load_catalog
from haymaker.providers import TEST_HOOK_SETTINGS, azure_provider, create_provider
from haymaker.providers.base import Provider
from haymaker.records import EVENTS_PARTITION_SECONDS, RunRecords
from haymaker.settings import Settings, load_settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    records: RunRecords
    provider: Provider
    catalog: Catalog


def build_services(settings: Settings) -> Services:
    provider_settings = {
        **{k: v for k, v in os.environ.items() if k.startswith("HAYMAKER_AGENT_")},
        "HAYMAKER_PROVIDER": settings.provider,
        "HAYMAKER_STATE_DIR": str(settings.local_state_dir),
    }
    # The local provider hands its agents the connection string (settings require one
    # for it); the azure provider gets the storage account itself, below.
    if settings.storage.connection_string is not None:
        provider_settings["AzureWebJobsStorage"] = settings.storage.connection_string
    for hook in TEST_HOOK_SETTINGS:
        if os.environ.get(hook):
            provider_settings[hook] = os.environ[hook]
    if settings.azure is not None:
        provider_settings["HAYMAKER_LOCATION"] = settings.azure.location
    return Services(
        settings=settings,
        # Local agents on a virtual clock report hundreds of events a real second.
        records=RunRecords(
            settings.storage,
            events_partition_seconds=1
            if settings.provider == "local"
            else EVENTS_PARTITION_SECONDS,
        ),
        provider=(
            azure_provider(settings)
            if settings.provider == "azure"
            else create_provider(provider_settings)
        ),
        catalog=load_catalog(settings.scenarios_dir),
    )


@functools.cache
def services() -> Services:
    """This process's services, from its environment (the app settings)."""
    return build_services(load_settings(os.environ))
