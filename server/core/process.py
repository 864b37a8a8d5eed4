"""What a process holds once: the database and the job queue, found by jobs and CLI commands
that have no Flask application context."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Slot(Generic[T]):
    """One object per process, set by ``create_app`` and read anywhere after it."""

    def __init__(self, what: str):
        self._what = what
        self._value: T | None = None

    def set(self, value: T) -> None:
        self._value = value

    def peek(self) -> T | None:
        """The object, or None before it is set (a test restoring what it replaced)."""
        return self._value

    def get(self) -> T:
        if self._value is None:
            raise RuntimeError(f"{self._what} not configured: call server.app.create_app() first")
        return self._value
