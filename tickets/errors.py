"""What the ticket modules' own refusals share (``tickets.callbacks``, ``tickets.dispatch``)."""
from __future__ import annotations

from typing import Any


class FieldRefused(ValueError):
    """Input the caller can fix: ``field`` names it (the 422's loc); ``value`` is what was given."""

    def __init__(self, field: str, message: str, value: Any = None) -> None:
        self.field, self.message, self.value = field, message, value
        super().__init__(message)
