"""Passwords, tokens, and the FastAPI dependencies that guard every endpoint.

Tokens are stateless HS256 JWTs, but not blindly trusted: every request loads
the user again, so a deactivated or deleted user is out at once, the role
checked is the one in the database (a demotion applies immediately), and the
``ver`` claim ties the token to the password it was issued under, so changing
a password invalidates every token issued before.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Iterable
from urllib.parse import urlsplit

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Depends, HTTPException, Request, WebSocket
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketState

from accounts.models import User
from ctidesk.deps import get_db
from ctidesk.settings import Settings

ROLES = ("agent", "expert", "supervisor", "admin")
TOKEN_COOKIE = "ctidesk_token"
WS_UNAUTHENTICATED = 4401
WS_FORBIDDEN = 4403
_ALGORITHM = "HS256"

_hasher = PasswordHasher()  # argon2id with the library's current defaults, until use_settings
_DUMMY_PASSWORD = "not-a-real-password-just-timing"
_dummy_hash = ""


def use_settings(settings: Settings) -> None:
    """Hash with the site's argon2id cost (``password_hash_*`` settings).

    The defaults are the library's (RFC 9106's second recommendation: t=3,
    64 MiB, p=4), about 0.2 s a hash here. A site on small hardware may lower
    them and a site may raise them: hashes made under other parameters are
    re-hashed at the next sign-in (:func:`needs_rehash`). The test tiers use
    the floor, because a login per test at full cost was a third of the unit
    tier's time; one unit test holds the defaults to the library's.
    """
    global _hasher, _dummy_hash
    hasher = PasswordHasher(time_cost=settings.password_hash_time_cost,
                            memory_cost=settings.password_hash_memory_kib,
                            parallelism=settings.password_hash_parallelism)
    if hasher.time_cost != _hasher.time_cost or hasher.memory_cost != _hasher.memory_cost \
            or hasher.parallelism != _hasher.parallelism:
        _hasher, _dummy_hash = hasher, ""


class TokenError(Exception):
    """The token is missing, malformed, badly signed or expired (message says which)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_unknown(password: str) -> None:
    """Spend what a real verification costs, for a user who does not exist.

    So that "no such user" and "wrong password" take the same time and cannot
    be told apart; the dummy hash follows the configured cost."""
    global _dummy_hash
    if not _dummy_hash:
        _dummy_hash = hash_password(_DUMMY_PASSWORD)
    verify_password(_dummy_hash, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


def credential_version(settings: Settings, user: User) -> str:
    """Changes whenever the user's password hash changes (the ``ver`` claim).

    Derived with the signing key rather than stored, so it needs no column and
    reveals nothing about the hash.
    """
    msg = f"{user.id}:{user.password_hash}".encode()
    return hmac.new(_key(settings), msg, hashlib.sha256).hexdigest()[:16]


def issue_token(settings: Settings, user: User) -> str:
    now = int(time.time())
    claims = {
        "sub": user.username,
        "role": user.role,
        "ver": credential_version(settings, user),
        "iat": now,
        "exp": now + int(settings.token_ttl_s),
    }
    return jwt.encode(claims, _key(settings), algorithm=_ALGORITHM)


def decode_token(settings: Settings, token: str) -> dict:
    """Verified claims of ``token``; raises :class:`TokenError` otherwise."""
    if not token:
        raise TokenError("missing token")
    try:
        return jwt.decode(token, _key(settings), algorithms=[_ALGORITHM],
                          options={"require": ["sub", "role", "ver", "exp"]})
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token ({exc})") from None


def _key(settings: Settings) -> bytes:
    if not settings.secret_key:
        # load_settings() always fills it; an empty key would sign forgeable tokens.
        raise RuntimeError("settings.secret_key is empty: refusing to sign or verify tokens")
    return settings.secret_key.encode()


async def user_from_token(*, db: AsyncSession, settings: Settings, token: str) -> User:
    """The active user ``token`` speaks for; raises :class:`TokenError`."""
    claims = decode_token(settings, token)
    user = (await db.execute(select(User).where(User.username == claims["sub"]))).scalar_one_or_none()
    if user is None or not user.active:
        raise TokenError("unknown or inactive user")
    if not hmac.compare_digest(str(claims["ver"]), credential_version(settings, user)):
        raise TokenError("token revoked (password changed)")
    return user


def role_allowed(role: str, roles: Iterable[str]) -> bool:
    """Admin passes every check; an empty ``roles`` means any authenticated user."""
    roles = tuple(roles)
    return role == "admin" or not roles or role in roles


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(401, detail=f"not authenticated: {reason}",
                         headers={"WWW-Authenticate": "Bearer"})


async def current_user(request: Request, db: AsyncSession = Depends(get_db)) -> User:
    """The authenticated user behind ``Authorization: Bearer``, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    settings = request.app.state.container.settings
    try:
        user = await user_from_token(db=db, settings=settings, token=token.strip())
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None
    request.state.user = user
    return user


def require_roles(*roles: str):
    """Dependency factory: the current user if their role is allowed, else 403."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")

    async def _require(user: User = Depends(current_user)) -> User:
        if not role_allowed(user.role, roles):
            raise HTTPException(403, detail=f"role {user.role!r} may not do this")
        return user

    return _require


async def authenticate_websocket(websocket: WebSocket, roles: Iterable[str] = ()) -> User | None:
    """Authenticate a websocket from ``?token=`` or the ``ctidesk_token`` cookie.

    On failure the socket is accepted and closed at once with 4401
    (unauthenticated) or 4403 (forbidden role), because a close before accept
    reaches the browser as a bare handshake failure without the code; the
    caller just returns on None. On success the socket is left unaccepted.
    """
    token = websocket.query_params.get("token") or websocket.cookies.get(TOKEN_COOKIE) or ""
    container = websocket.app.state.container
    try:
        async with container.sessionmaker() as db:
            user = await user_from_token(db=db, settings=container.settings, token=token)
    except TokenError:
        await _close(websocket, WS_UNAUTHENTICATED)
        return None
    if not role_allowed(user.role, roles):
        await _close(websocket, WS_FORBIDDEN)
        return None
    return user


async def authenticate_same_origin(websocket: WebSocket, roles: Iterable[str] = ()) -> User | None:
    """:func:`authenticate_websocket` for a socket opened by one of our own pages:
    one from a foreign origin is accepted and closed at once with 4403 ("cross-origin")."""
    origin = websocket.headers.get("origin")
    if origin and urlsplit(origin).netloc != websocket.headers.get("host"):
        # A cookie would authenticate a cross-site page too: refuse foreign origins.
        await websocket.accept()
        await websocket.close(code=4403, reason="cross-origin")
        return None
    return await authenticate_websocket(websocket, roles)


async def _close(websocket: WebSocket, code: int) -> None:
    if websocket.client_state == WebSocketState.CONNECTING:
        await websocket.accept()
    await websocket.close(code=code)
