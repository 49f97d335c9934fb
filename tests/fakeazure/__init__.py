"""A fake of the Azure services HayMaker uses (ARM, Microsoft Graph, Key Vault, managed
identity), served over real HTTPS so the real Azure SDK clients can be pointed at it.

Start with `FakeAzure` (fake.py); op names and faults are documented in faults.py.
"""

from .fake import FakeAzure
from .faults import LRO_OPS, OPS, Faults
from .records import RequestRecord

__all__ = ["LRO_OPS", "OPS", "FakeAzure", "Faults", "RequestRecord"]
