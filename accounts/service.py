"""Account rules: creating and authenticating users, the audit log, login throttling.

Functions take keyword arguments and an injected session; they add and flush
but never commit, so that a change and its audit row land in one transaction
chosen by the caller.
"""
from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import phones
from accounts.models import AuditLog, User
from accounts.security import ROLES, hash_password, needs_rehash, verify_password, verify_unknown

USERNAME_RE = re.compile(r"[a-z0-9_.-]{2,32}")
QUEUE_RE = re.compile(r"[a-z0-9_-]{1,32}")
EXTENSION_RE = re.compile(r"[0-9]{2,6}")
MIN_PASSWORD_LEN = 8
MAX_PASSWORD_LEN = 1024  # argon2 cost grows with input; nobody types more

# Audit detail keys that must never be stored, whatever a caller passes.
_SECRET_KEY_RE = re.compile(r"pass|secret|token|authorization|hash|cookie|credential", re.I)


async def get_by_username(*, db: AsyncSession, username: str) -> User | None:
    return (await db.execute(select(User).where(User.username == username))).scalar_one_or_none()


async def list_users(*, db: AsyncSession) -> list[User]:
    return list((await db.execute(select(User).order_by(User.username))).scalars())


def _queue_names(queues: Iterable[str] | str | None) -> list[str]:
    if queues is None:
        return []
    if isinstance(queues, str):
        queues = queues.split(",")
    names = [q.strip() for q in queues if q and q.strip()]
    for name in names:
        if not QUEUE_RE.fullmatch(name):
            raise ValueError(f"invalid queue name {name!r}: use 1-32 of a-z 0-9 _ -")
    return list(dict.fromkeys(names))


async def create_user(*, db: AsyncSession, username: str, password: str, role: str,
                      extension: str | None = None, queues: Iterable[str] | str = (),
                      display_name: str | None = None, phone: str = "local",
                      sip_realm: str = "ctidesk") -> User:
    """Validate and add a user; ValueError with a readable message on bad input.

    ``phone`` sip/webrtc generates SIP credentials (see :mod:`accounts.phones`);
    the generated password of a desk phone is on ``user.sip_password_once``
    (never stored) for the caller to show once.

    If a concurrent writer takes the username between the check and the
    flush, the session is rolled back before the ValueError.
    """
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise ValueError(f"invalid username {username!r}: use 2-32 of a-z 0-9 _ . -")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LEN:
        raise ValueError(f"password too short: at least {MIN_PASSWORD_LEN} characters")
    if len(password) > MAX_PASSWORD_LEN:
        raise ValueError(f"password too long: at most {MAX_PASSWORD_LEN} characters")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    extension = None if extension in (None, "") else str(extension)
    if extension is not None and not EXTENSION_RE.fullmatch(extension):
        raise ValueError(f"invalid extension {extension!r}: 2-6 digits")
    queue_names = _queue_names(queues)
    phones.check_kind(phone)
    if phone in phones.SIP_KINDS and extension is None:
        raise ValueError(f"a {phone} phone needs an extension (--extension)")
    if await get_by_username(db=db, username=username) is not None:
        raise ValueError(f"user {username!r} already exists")
    if extension is not None:
        # Two users on one extension would make "whose phone rang" ambiguous.
        holder = (await db.execute(select(User.username).where(
            User.extension == extension, User.active.is_(True)))).scalar_one_or_none()
        if holder is not None:
            raise ValueError(f"extension {extension} is already assigned to user {holder!r}")
    user = User(username=username, password_hash=await asyncio.to_thread(hash_password, password), role=role,
                extension=extension, queues=",".join(queue_names), active=True,
                display_name=(display_name or username).strip()[:80] or username, phone=phone)
    sip_password = set_phone(user, phone, realm=sip_realm)
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:  # lost a race with another writer
        await db.rollback()
        raise ValueError(f"user {username!r} already exists") from None
    user.sip_password_once = sip_password
    return user


def set_phone(user: User, phone: str, *, realm: str) -> str | None:
    """Give ``user`` a phone of kind ``phone`` with fresh SIP credentials (sip/webrtc).

    Returns the new SIP password (to be shown once, never stored), or None."""
    phones.check_kind(phone)
    user.phone = phone
    if phone not in phones.SIP_KINDS:
        user.sip_ha1 = user.sip_realm = None
        return None
    if not user.extension:
        raise ValueError(f"a {phone} phone needs an extension")
    password = phones.new_password()
    user.sip_ha1 = phones.ha1(user.extension, realm, password)
    user.sip_realm = realm
    return password


async def authenticate(*, db: AsyncSession, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (never says which part was wrong)."""
    if len(password) > MAX_PASSWORD_LEN:
        return None
    user = await get_by_username(db=db, username=username)
    # argon2 takes ~0.2 s of CPU: in a thread (the library releases the GIL),
    # so a sign-in does not stall every call event and screen pop behind it.
    if user is None or not user.active:
        await asyncio.to_thread(verify_unknown, password)
        return None
    if not await asyncio.to_thread(verify_password, user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):  # argon2 parameters changed since
        user.password_hash = await asyncio.to_thread(hash_password, password)
        await db.flush()
    return user


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): ("[redacted]" if _SECRET_KEY_RE.search(str(k)) else _scrub(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_scrub(v) for v in value]
    return value


async def audit(*, db: AsyncSession, actor: str, action: str, target: str = "",
                detail: dict | None = None, ip: str | None = None) -> AuditLog:
    """Add an audit row (the caller commits). Secret-looking detail keys are redacted."""
    row = AuditLog(actor=(actor or "")[:64], action=action[:64], target=str(target or "")[:200],
                   detail=json.dumps(_scrub(detail or {}), ensure_ascii=False, default=str),
                   ip=(ip or None) and ip[:64])
    db.add(row)
    return row


class LoginThrottle:
    """Failed logins per (username, ip) in a sliding window, in memory.

    One instance lives on the app container. Memory is bounded: keys whose
    failures have all expired are dropped whenever the table grows large.
    """

    def __init__(self, *, max_failures: int = 10, window_s: float = 300.0,
                 max_keys: int = 10_000, clock=time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    @staticmethod
    def _key(username: str, ip: str | None) -> tuple[str, str]:
        return (username.lower()[:64], ip or "")

    def _recent(self, key: tuple[str, str]) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        horizon = self._clock() - self.window_s
        while times and times[0] < horizon:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, username: str, ip: str | None) -> bool:
        times = self._recent(self._key(username, ip))
        return times is not None and len(times) >= self.max_failures

    def failed(self, username: str, ip: str | None) -> None:
        if len(self._failures) >= self.max_keys:
            for key in list(self._failures):
                self._recent(key)
            while len(self._failures) >= self.max_keys:  # still full: forget the oldest
                del self._failures[next(iter(self._failures))]
        key = self._key(username, ip)
        self._failures.setdefault(key, deque(maxlen=self.max_failures * 2)).append(self._clock())

    def succeeded(self, username: str, ip: str | None) -> None:
        self._failures.pop(self._key(username, ip), None)
