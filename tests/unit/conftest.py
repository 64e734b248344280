"""Fixtures shared by the unit tests of the HTTP API (each module defines ``app``)."""
from __future__ import annotations

import httpx
import pytest


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def db(app):
    async with app.state.container.sessionmaker() as session:
        yield session
