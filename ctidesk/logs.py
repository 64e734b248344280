"""Logging set-up: secrets never reach a log line.

Browsers pass the desk token in the websocket URL (``/ws/agent?token=...``),
and uvicorn logs request lines with their query strings; this filter
redacts tokens, secrets and passwords from every record before any handler
formats it.
"""
from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(?i)\b(token|access_token|secret|password|passwd)=([^&\s\"']+)")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message and _SECRET.search(message):
            record.msg = _SECRET.sub(r"\1=[redacted]", message)
            record.args = ()
        return True


def install(*logger_names: str) -> None:
    """Attach the filter to the named loggers (records logged on them directly)
    and to every handler of the root logger (records propagated to it)."""
    redact = RedactSecrets()
    for name in logger_names:
        logging.getLogger(name).addFilter(redact)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
