"""Fixtures shared by the unit tests of the HTTP API: the app on a fresh
SQLite file (a module may define its own ``app``), a client, a session and a customer."""
from __future__ import annotations

import httpx
import pytest

from tests.factories import make_app, make_customer


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


@pytest.fixture
async def customer(db):
    """Zhang San, 13800138000."""
    return await make_customer(db, name="Zhang San", phones=["13800138000"])


def pytest_configure(config):
    config.addinivalue_line("markers", "synthetic_frames: the test feeds toy frames to a socket's fan-out "
                                       "(its mechanics, not the contract): frames are not checked")


@pytest.fixture(autouse=True)
def ws_frames(monkeypatch, request):
    """Every frame a test makes the server send on /ws/agent or /ws/supervisor
    must validate against its model (``agent_desk.notifier``,
    ``supervisor.notifier``) with ISO times: checked after each test."""
    from tests import wscontract

    captured = wscontract.capture(monkeypatch)
    yield captured
    if request.node.get_closest_marker("synthetic_frames"):
        return
    bad = wscontract.problems(captured)
    assert not bad, "frames that break the websocket contract:\n" + "\n".join(bad[:20])
