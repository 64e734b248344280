"""Who is behind which phone: agents' devices <-> usernames.

Loaded from the users table at start and refreshed when users change. The
queue MemberName we give Asterisk at QueueAdd is the username, so queue events
name the agent directly; the device map covers direct (non-queue) calls.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from accounts.phones import SIP_KINDS
from cti.model import device_of


@dataclass(frozen=True)
class AgentInfo:
    username: str
    role: str
    extension: str
    interface: str  # queue member interface, e.g. Local/1001@agents/n
    state_interface: str
    queues: tuple[str, ...]
    display_name: str
    phone: str = "local"  # local | sip | webrtc (accounts.phones)


class AgentDirectory:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.by_username: dict[str, AgentInfo] = {}
        self.by_device: dict[str, AgentInfo] = {}

    def load(self, users) -> None:
        by_username, by_device = {}, {}
        for u in users:
            if not u.extension or not u.active:
                continue
            if getattr(u, "phone", "local") in SIP_KINDS:  # a real SIP phone: the PJSIP endpoint named by the extension
                interface = state = self.settings.sip_interface_template.format(extension=u.extension)
            else:
                interface = self.settings.agent_interface(u.extension)
                state = self.settings.agent_state_interface(u.extension)
            info = AgentInfo(u.username, u.role, u.extension, interface, state, tuple(u.queue_list),
                             u.display_name or u.username, getattr(u, "phone", "local"))
            by_username[u.username] = info
            by_device[device_of(info.interface)] = info
        self.by_username, self.by_device = by_username, by_device

    async def refresh(self, sessionmaker) -> None:
        from accounts.models import User

        async with sessionmaker() as db:
            self.load((await db.execute(select(User))).scalars().all())

    def username_for(self, agent: str | None, interface: str | None) -> str | None:
        """The username behind a queue MemberName or a channel/interface."""
        if agent and agent in self.by_username:
            return agent
        if interface:
            info = self.by_device.get(device_of(interface))
            if info is not None:
                return info.username
        return None

    def device_names(self) -> dict[str, str]:
        return {device: info.username for device, info in self.by_device.items()}
