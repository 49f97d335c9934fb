"""The error the engine answers a refused request with."""

from __future__ import annotations


class EngineError(Exception):
    """A request the engine refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
