"""What /proc says of a process, for tests that start and stop them."""

from __future__ import annotations

from pathlib import Path


def still_running(pid: int) -> bool:
    """Running, not ended (a zombie has ended: it only waits for its parent to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
