"""The azure provider (see provider.py); the SDKs load only when it is chosen."""

from haymaker.providers.azure.provider import AzureProvider

__all__ = ["AzureProvider"]
