"""The AMI wire: panoramisk's protocol with a fast path for events.

panoramisk owns what it does well: serialising actions, ActionIDs, and
collecting a response (or a response plus its event list, for
CoreShowChannels/QueueStatus) into a future. What it does slowly, on every
event, is decode, build a case-insensitive dict, match every registered
pattern by regex and spawn a task per callback (order lost). We keep its
``send``/``handle_message`` for responses and replace the event path:

1. split complete ``\\r\\n\\r\\n`` blocks out of the byte buffer;
2. read the event name off the first line *before* parsing anything;
3. events the model has no handler for are dropped unparsed (most traffic);
4. the rest become a plain ``dict`` and go to ``on_event(name, fields)``,
   synchronously and in order.

Anything that is not a well-formed block (a line with no ``": "``, text before
the first header, invalid UTF-8) is counted and logged with a reason, and the
rest of the block (or stream) goes on.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

log = logging.getLogger(__name__)

GREETING = "Asterisk Call Manager/"


class AMIConnectionLost(ConnectionError):
    """The AMI connection closed before an action got its response.

    The action may or may not have reached Asterisk; it is *not* re-sent (an
    Originate sent twice would ring a customer twice). Callers decide."""


def parse_fields(block: str, on_malformed: Callable[[str, str], None] | None = None) -> dict:
    """Header lines of one AMI block as a dict (last value wins).

    >>> parse_fields("Event: Hangup\\r\\nChannel: PJSIP/1-00000001\\r\\nCause: 16")
    {'Event': 'Hangup', 'Channel': 'PJSIP/1-00000001', 'Cause': '16'}
    """
    lines = block.split("\r\n")
    try:
        return dict([line.split(": ", 1) for line in lines])  # fast path: well-formed
    except ValueError:
        fields = {}
        for line in lines:
            key, sep, value = line.partition(": ")
            if sep:
                fields[key] = value
            elif line.endswith(":") and " " not in line:
                fields[line[:-1]] = ""  # "Key:" with an empty value
            elif line.strip() and on_malformed is not None:
                on_malformed("line without ': ' separator", line)
        return fields


class BlockSplitter:
    """Turns a byte stream into complete AMI text blocks.

    Bytes are buffered until a block ends, so a multi-byte UTF-8 character
    split across two TCP reads is decoded whole. The greeting line
    (``Asterisk Call Manager/x.y``) is taken off the front once.
    """

    __slots__ = ("buffer", "version")

    def __init__(self) -> None:
        self.buffer = b""
        self.version: str | None = None

    def feed(self, data: bytes) -> list[str]:
        buf = self.buffer + data if self.buffer else data
        end = buf.rfind(b"\r\n\r\n")
        if end < 0:
            self.buffer = buf
            return []
        self.buffer = buf[end + 4:]
        text = buf[:end].decode("utf-8", "replace")
        if self.version is None and text.startswith(GREETING):
            first, _, text = text.partition("\r\n")
            self.version = first[len(GREETING):].strip()
        return text.split("\r\n\r\n")


class FastAMIProtocol(AMIProtocol):
    """One AMI connection. ``on_event(name, fields)`` gets interesting events."""

    def __init__(self, on_event: Callable[[str, dict], None], interesting: frozenset[str],
                 on_lost: Callable[[Exception | None], None]) -> None:
        super().__init__()
        self.on_event = on_event
        self.interesting = interesting
        self.on_lost = on_lost
        self.splitter = BlockSplitter()
        self.events_seen = 0
        self.malformed = 0
        self.read_at = 0.0  # wall clock of the last read: screen pop latency starts here
        self._malformed_logged = 0

    # panoramisk's connection_made sets transport, responses, queue, log...
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        self.factory = None

    @property
    def version(self) -> str | None:  # panoramisk reads/writes .version
        return self.splitter.version if hasattr(self, "splitter") else None

    @version.setter
    def version(self, value) -> None:
        pass

    def _malformed(self, reason: str, text: str) -> None:
        self.malformed += 1
        if self._malformed_logged < 20:  # a flood of garbage must not flood the log
            self._malformed_logged += 1
            log.warning("malformed AMI input (%s): %r", reason, text[:200])

    def data_received(self, data: bytes) -> None:
        self.read_at = time.time()
        for block in self.splitter.feed(data):
            self._block(block)

    def _block(self, block: str) -> None:
        if block.startswith("Event: "):
            self.events_seen += 1
            nl = block.find("\r\n")
            name = block[7:nl] if nl > 0 else block[7:]
            if self.responses and "ActionID: " in block:
                self._response(block)  # part of an event list we asked for
            elif name in self.interesting:
                self.on_event(name, parse_fields(block, self._malformed))
            elif name == "Shutdown":
                log.warning("Asterisk is shutting down; closing the AMI connection")
                self.transport.close()
        elif block.startswith("Response: "):
            self._response(block)
        else:
            stripped = block.strip("\r\n")
            if stripped != block and stripped.startswith(("Event: ", "Response: ")):
                self._block(stripped)  # Asterisk sometimes sends an extra CRLF between blocks
            elif stripped:
                self._malformed("block is neither an event nor a response", stripped)

    def _response(self, block: str) -> None:
        message = Message.from_line(block)
        if message is None:
            self._malformed("unparseable response", block)
            return
        response = self.responses.get(message.id)
        if response is None and message.action_id:
            response = self.responses.get(message.action_id)
        if response is not None:
            if response.add_message(message):
                self.responses.pop(response.id, None)
                if response.action_id:
                    self.responses.pop(response.action_id, None)
        elif "event" in message and message["event"] in self.interesting:
            self.on_event(message["event"], {k: v for k, v in message.items()})

    def send_action(self, action: dict, *, as_list: bool | None = False) -> asyncio.Future:
        return self.send(dict(action), as_list=as_list)

    def connection_lost(self, exc) -> None:
        if self.closed:
            return
        self.close()
        self.on_lost(exc)

    def close(self) -> None:
        """Fail every pending action instead of queueing it for a re-send."""
        for action in list(self.responses.values()):
            if not action.future.done():
                action.future.set_exception(AMIConnectionLost(
                    f"AMI connection lost before {action.get('Action')} was answered; not re-sent"))
        self.responses.clear()
        if not self.closed:
            try:
                self.transport.close()
            finally:
                self.closed = True
