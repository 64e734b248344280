"""Fixtures shared by the unit tests of the HTTP API: the app on a fresh
SQLite file (a module may define its own ``app``), a client and a session."""
from __future__ import annotations

import httpx
import pytest

from tests.factories import make_app


@pytest.fixture
async def app(tmp_path):
    app = await make_app(tmp_path)
    yield app
    await app.state.container.engine.dispose()


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def db(app):
    async with app.state.container.sessionmaker() as session:
        yield session
