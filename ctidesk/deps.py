"""FastAPI dependencies shared by every package's thin HTTP layer."""
from __future__ import annotations

from typing import AsyncIterator

from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_container(request: Request):
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool,
    # a thread hop (and a wake-up on a busy machine) on every request (issue 15)
    return request.app.state.container


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.container.sessionmaker() as session:
        yield session


def client_ip(request: Request) -> str | None:
    """The peer's address, for the audit log."""
    return request.client.host if request.client else None


def running(service, what: str):
    """``service`` (a container attribute), or 503: ``what`` does not run in this
    process (started without a phone system, or not yet)."""
    if service is None:
        raise HTTPException(503, f"{what} not running in this process")
    return service
