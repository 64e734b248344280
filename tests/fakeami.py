"""A scriptable fake AMI server on loopback, for fast tests and fault injection.

It is never the only proof (the real tier runs Asterisk); it exists to do what
a real Asterisk will not do on demand: drop a connection mid-call, go silent
(half-open), send garbage, repeat events.
"""
from __future__ import annotations

import asyncio


def block(**fields) -> bytes:
    lines = [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def event(name: str, **fields) -> bytes:
    return block(Event=name, **fields)


def event_list(aid: str, item: str, rows: list[dict], complete: str) -> bytes:
    """A list action's answer: Success + EventList start, the items, the Complete event."""
    out = block(Response="Success", ActionID=aid, EventList="start", Message="Events will follow")
    for row in rows:
        out += event(item, ActionID=aid, **row)
    return out + event(complete, ActionID=aid, EventList="Complete", ListItems=str(len(rows)))


class FakeAMI:
    def __init__(self, *, secret: str = "s3cret") -> None:
        self.secret = secret
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.actions: list[dict] = []
        self.logins = 0
        self.answer_ping = True
        self.answer_originate = True
        self.emulate_queues = True  # QueueAdd/QueueRemove answer, then QueueMemberAdded/Removed
        self.member_event_delay = 0.0  # latency injected between that answer and the event
        self.channels: list[dict] = []  # CoreShowChannel rows served on resync
        self.members: list[dict] = []  # QueueMember rows
        self.variables: dict[str, str] = {}  # what Getvar answers, by variable (any channel)
        self.connected = asyncio.Event()
        self._conn_count = 0
        self.connections = asyncio.Queue()

    async def start(self) -> "FakeAMI":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for w in self.writers:
            w.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def push(self, data: bytes) -> None:
        for w in list(self.writers):
            w.write(data)
            await w.drain()

    async def drop(self) -> None:
        """Close every client connection (Asterisk went away)."""
        for w in list(self.writers):
            w.close()
        self.writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        authed = False
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = {}
                for line in raw.decode().split("\r\n"):
                    k, sep, v = line.partition(": ")
                    if sep:
                        action[k] = v
                name = action.get("Action", "").lower()
                aid = action.get("ActionID", "")
                self.actions.append(action)
                if name == "login":
                    if action.get("Secret") == self.secret:
                        authed = True
                        self.logins += 1
                        writer.write(block(Response="Success", ActionID=aid, Message="Authentication accepted"))
                        self.writers.append(writer)
                        self._conn_count += 1
                        self.connections.put_nowait(self._conn_count)
                    else:
                        writer.write(block(Response="Error", ActionID=aid, Message="Authentication failed"))
                elif not authed:
                    writer.write(block(Response="Error", ActionID=aid, Message="Permission denied"))
                elif name == "ping":
                    if self.answer_ping:
                        writer.write(block(Response="Success", ActionID=aid, Ping="Pong"))
                elif name == "coreshowchannels":
                    writer.write(event_list(aid, "CoreShowChannel", self.channels, "CoreShowChannelsComplete"))
                elif name == "queuestatus":
                    writer.write(event_list(aid, "QueueMember", self.members, "QueueStatusComplete"))
                elif name == "queuesummary":
                    writer.write(event_list(aid, "QueueSummary", [], "QueueSummaryComplete"))
                elif name in ("queueadd", "queueremove") and self.emulate_queues:
                    # as Asterisk does: the response first, the member event after it
                    writer.write(block(Response="Success", ActionID=aid, Message="OK"))
                    await writer.drain()
                    member = {"Queue": action.get("Queue", ""), "Interface": action.get("Interface", "")}
                    self.members = [m for m in self.members
                                    if (m["Queue"], m["Interface"]) != (member["Queue"], member["Interface"])]
                    if name == "queueadd":
                        member.update(MemberName=action.get("MemberName", ""), Status="1", Paused="0",
                                      StateInterface=action.get("StateInterface", ""))
                        self.members.append(member)
                    await self._member_event(event(
                        "QueueMemberAdded" if name == "queueadd" else "QueueMemberRemoved", **member))
                elif name == "getvar":
                    writer.write(block(Response="Success", ActionID=aid, Variable=action.get("Variable", ""),
                                       Value=self.variables.get(action.get("Variable", ""), "")))
                elif name == "originate" and not self.answer_originate:
                    pass  # never answered: the test drops the connection meanwhile
                else:
                    writer.write(block(Response="Success", ActionID=aid, Message="OK"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    async def _member_event(self, data: bytes) -> None:
        if self.member_event_delay <= 0:
            await self.push(data)
            return
        # later, without holding up this connection's reader (a slow Asterisk)
        loop = asyncio.get_running_loop()
        loop.call_later(self.member_event_delay, lambda: loop.create_task(self.push(data)))

    def count(self, action_name: str) -> int:
        return sum(1 for a in self.actions if a.get("Action", "").lower() == action_name.lower())


def call_events(linkedid: str = "1700000000.1", number: str = "13800138000", name: str = "Zhang San",
                agent: str = "alice", ext: str = "1001") -> list[bytes]:
    """A queued inbound call ringing one agent, as Asterisk 22 sends it."""
    caller = dict(Channel="PJSIP/trunk-00000001", Uniqueid=linkedid, Linkedid=linkedid,
                  CallerIDNum=number, CallerIDName=name, Exten="4000", Context="ctidesk-inbound")
    return [
        event("Newchannel", ChannelState="4", **caller),
        event("QueueCallerJoin", Queue="support", Position="1", Count="1", **caller),
        event("AgentCalled", Queue="support", Interface=f"Local/{ext}@agents/n", MemberName=agent,
              DestChannel=f"Local/{ext}@agents-00000002;1", DestUniqueid=linkedid + "1", **caller),
    ]
