"""FastAPI dependencies shared by every package's thin HTTP layer."""
from __future__ import annotations

from typing import AsyncIterator

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession


def get_container(request: Request):
    return request.app.state.container


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.container.sessionmaker() as session:
        yield session


def client_ip(request: Request) -> str | None:
    """The peer's address, for the audit log."""
    return request.client.host if request.client else None
