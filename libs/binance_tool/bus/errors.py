"""Errors raised by the bus implementations."""

from __future__ import annotations


class BusError(Exception):
    """Base of every bus error."""


class NotConnected(BusError):
    """The bus was used before `connect()` (or after `close()`)."""


class PublishFailed(BusError):
    """A publish was not confirmed by the broker (nack, missing exchange, or connection down past the deadline)."""

    def __init__(self, message: str, *, failed: int = 1, total: int = 1) -> None:
        super().__init__(message)
        self.failed = failed
        self.total = total
