"""The test entry point: start a devhost for an app folder on a free port.

from devhost.testing import running_host

with running_host(app_dir, clock="virtual") as host:
    requests.get(f"{host.api}/hello", params={"code": host.function_key})
"""

from devhost.process import HostHandle, HostStartError, running_host

__all__ = ["HostHandle", "HostStartError", "running_host"]
