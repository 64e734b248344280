"""Login and "who am I". Thin: the rules live in service and security."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import service
from accounts.models import User
from accounts.schemas import LoginIn, LoginOut, UserOut
from accounts.security import TOKEN_COOKIE, current_user, issue_token
from ctidesk.deps import client_ip, get_container, get_db

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_INVALID = {"detail": "invalid username or password"}


async def audit_request(db: AsyncSession, request: Request, user: User, action: str, target: str,
                        detail: dict) -> None:
    """Audit ``action`` on ``target`` by the signed-in ``user``, from ``request``'s address (caller commits)."""
    await service.audit(db=db, actor=user.username, action=action, target=target, ip=client_ip(request),
                        detail=detail)


def _throttle(container) -> service.LoginThrottle:
    if container.login_throttle is None:
        container.login_throttle = service.LoginThrottle()
    return container.login_throttle


@router.post("/login", response_model=LoginOut)
async def login(body: LoginIn, request: Request, response: Response,
                db: AsyncSession = Depends(get_db), container=Depends(get_container)):
    ip = client_ip(request)
    throttle = _throttle(container)
    if throttle.blocked(body.username, ip):
        await service.audit(db=db, actor=body.username, action="auth.login_throttled",
                            target=body.username, ip=ip)
        await db.commit()
        return JSONResponse({"detail": "too many failed logins; try again later"},
                            status_code=429, headers={"Retry-After": str(int(throttle.window_s))})
    user = await service.authenticate(db=db, username=body.username, password=body.password)
    if user is None:
        throttle.failed(body.username, ip)
        await service.audit(db=db, actor=body.username, action="auth.login_failed",
                            target=body.username, ip=ip)
        await db.commit()
        return JSONResponse(_INVALID, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    throttle.succeeded(body.username, ip)
    await service.audit(db=db, actor=user.username, action="auth.login", target=user.username,
                        detail={"role": user.role}, ip=ip)
    await db.commit()
    token = issue_token(container.settings, user)
    # The desk's websocket may authenticate with this cookie, so the token need
    # not travel in a URL. HTTP endpoints accept only the bearer header, which
    # keeps them out of reach of cross-site requests. A session cookie: it dies
    # with the browser, and the token inside expires anyway.
    response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict", path="/")
    return LoginOut(access_token=token, user=UserOut.of(user))


@router.post("/logout", status_code=204)
async def logout() -> Response:
    """Forget the websocket cookie. Bearer tokens are stateless: they expire."""
    response = Response(status_code=204)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", response_model=UserOut)
async def me(user: User = Depends(current_user)) -> UserOut:
    return UserOut.of(user)
