import asyncio
import json
import time

import jwt
import pytest
from click.testing import CliRunner
from fastapi import Depends, FastAPI, WebSocket
from sqlalchemy import select

from accounts import service
from accounts.cli import user_group
from accounts.models import AuditLog, User
from accounts.security import (ROLES, TokenError, authenticate_websocket, decode_token,
                               issue_token, require_roles)
from ctidesk.db import make_engine
from tests.factories import PASSWORD, SECRET_KEY, bearer, cli_environment, make_app, make_user


def add_test_routes(app: FastAPI) -> FastAPI:
    @app.get("/test/supervisors-only")
    async def supervisors_only(user: User = Depends(require_roles("supervisor"))):
        return {"username": user.username}

    @app.websocket("/test/ws")
    async def ws(websocket: WebSocket):
        user = await authenticate_websocket(websocket, roles=("agent",))
        if user is None:
            return
        await websocket.accept()
        await websocket.send_json({"username": user.username})
        await websocket.close()

    return app


@pytest.fixture
async def app(tmp_path):
    app = add_test_routes(await make_app(tmp_path))
    yield app
    await app.state.container.engine.dispose()


@pytest.fixture
def settings(app):
    return app.state.container.settings


async def audit_rows(app, action=None):
    async with app.state.container.sessionmaker() as s:
        stmt = select(AuditLog).order_by(AuditLog.id)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return list((await s.execute(stmt)).scalars())


# --- login -----------------------------------------------------------------

async def test_login_ok(app, client, db, settings):
    await make_user(db, username="alice", role="agent", extension="1001",
                    queues=["sales", "support"], display_name="Alice Wang")
    r = await client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["user"] == {"username": "alice", "display_name": "Alice Wang", "role": "agent",
                            "extension": "1001", "queues": ["sales", "support"], "phone": "local"}
    claims = decode_token(settings, body["access_token"])
    assert claims["sub"] == "alice" and claims["role"] == "agent" and claims["ver"]
    assert claims["exp"] - time.time() == pytest.approx(settings.token_ttl_s, abs=5)
    assert "httponly" in r.headers["set-cookie"].lower()

    me = await client.get("/api/v1/auth/me",
                          headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"

    [row] = await audit_rows(app, "auth.login")
    assert row.actor == "alice" and row.ip
    assert PASSWORD not in row.detail and body["access_token"] not in row.detail


@pytest.mark.parametrize("username,password", [("alice", "wrong-password"), ("nobody", PASSWORD)])
async def test_login_failure_is_uniform_and_audited(app, client, db, username, password):
    await make_user(db, username="alice")
    r = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json() == {"detail": "invalid username or password"}
    [row] = await audit_rows(app, "auth.login_failed")
    assert row.target == username
    assert password not in row.detail and password not in row.target


async def test_inactive_user_cannot_login(client, db):
    user = await make_user(db, username="gone")
    user.active = False
    await db.commit()
    r = await client.post("/api/v1/auth/login", json={"username": "gone", "password": PASSWORD})
    assert r.status_code == 401


async def test_login_bad_body_names_the_field(client):
    r = await client.post("/api/v1/auth/login", json={"username": "alice"})
    assert r.status_code == 422
    assert any(e["loc"][-1] == "password" for e in r.json()["detail"])
    r = await client.post("/api/v1/auth/login", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert r.status_code == 422


async def test_login_rate_limited_per_username_and_ip(app, client, db):
    await make_user(db, username="alice")
    await make_user(db, username="bob")
    for _ in range(10):
        r = await client.post("/api/v1/auth/login", json={"username": "alice", "password": "nope-nope"})
        assert r.status_code == 401
    # Even the right password is refused while the window is full.
    r = await client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429
    assert "retry-after" in r.headers
    # Another username from the same address is not affected.
    r = await client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 200
    assert len(await audit_rows(app, "auth.login_failed")) == 10


def test_throttle_window_slides():
    now = [1000.0]
    t = service.LoginThrottle(max_failures=3, window_s=300, clock=lambda: now[0])
    for _ in range(3):
        t.failed("alice", "1.2.3.4")
    assert t.blocked("alice", "1.2.3.4") and not t.blocked("alice", "5.6.7.8")
    now[0] += 301
    assert not t.blocked("alice", "1.2.3.4")
    t.failed("bob", "1.2.3.4")
    t.succeeded("bob", "1.2.3.4")
    assert not t.blocked("bob", "1.2.3.4")


def test_throttle_memory_is_bounded():
    t = service.LoginThrottle(max_keys=100)
    for i in range(1000):
        t.failed(f"user{i}", "1.2.3.4")
    assert len(t._failures) <= 100


# --- tokens ----------------------------------------------------------------

async def test_missing_token_401(client):
    r = await client.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [
    "Bearer not-a-jwt", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "bearer",
    "Bearer " + jwt.encode({"sub": "alice", "role": "admin", "ver": "x", "exp": 9999999999},
                           "some-other-key-entirely-0123456789abcdef", algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "alice", "role": "admin", "ver": "x", "exp": 9999999999},
                           key=None, algorithm="none"),
])
async def test_invalid_token_401(client, db, header):
    await make_user(db, username="alice")
    r = await client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


async def test_expired_token_401(client, db, settings):
    user = await make_user(db, username="alice")
    expired = settings.with_(token_ttl_s=-10)
    r = await client.get("/api/v1/auth/me", headers=bearer(expired, user))
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    with pytest.raises(TokenError, match="expired"):
        decode_token(settings, issue_token(expired, user))


async def test_token_of_deactivated_user_401(client, db, settings):
    user = await make_user(db, username="alice")
    headers = bearer(settings, user)
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 200
    user.active = False
    await db.commit()
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_password_change_revokes_tokens(client, db, settings):
    from accounts.security import hash_password

    user = await make_user(db, username="alice")
    headers = bearer(settings, user)
    user.password_hash = hash_password("a-brand-new-password")
    await db.commit()
    r = await client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


async def test_forged_role_claim_does_not_help(client, db, settings):
    """The role comes from the database, not from the token."""
    from accounts.security import credential_version

    user = await make_user(db, username="alice", role="agent")
    claims = {"sub": "alice", "role": "admin", "ver": credential_version(settings, user),
              "exp": int(time.time()) + 60}
    token = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    r = await client.get("/test/supervisors-only", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403


# --- roles -----------------------------------------------------------------

@pytest.mark.parametrize("role,status", [("agent", 403), ("expert", 403),
                                         ("supervisor", 200), ("admin", 200)])
async def test_require_roles(client, db, settings, role, status):
    user = await make_user(db, role=role)
    r = await client.get("/test/supervisors-only", headers=bearer(settings, user))
    assert r.status_code == status


def test_require_roles_rejects_unknown_role():
    with pytest.raises(ValueError):
        require_roles("superuser")
    assert ROLES == ("agent", "expert", "supervisor", "admin")


def test_websocket_auth(tmp_path):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    async def build():
        app = add_test_routes(await make_app(tmp_path))
        async with app.state.container.sessionmaker() as s:
            users = (await make_user(s, username="agent1", role="agent"),
                     await make_user(s, username="boss", role="supervisor"))
        await app.state.container.engine.dispose()  # its connections belong to this loop
        return app, users

    app, (agent, boss) = asyncio.run(build())
    settings = app.state.container.settings
    token = issue_token(settings, agent)
    with TestClient(app) as tc:
        with tc.websocket_connect(f"/test/ws?token={token}") as ws:
            assert ws.receive_json() == {"username": "agent1"}
        tc.cookies.set("ctidesk_token", token)
        with tc.websocket_connect("/test/ws") as ws:
            assert ws.receive_json() == {"username": "agent1"}
        tc.cookies.clear()
        for url, code in [("/test/ws?token=garbage", 4401), ("/test/ws", 4401),
                          (f"/test/ws?token={issue_token(settings, boss)}", 4403)]:
            with tc.websocket_connect(url) as ws:
                with pytest.raises(WebSocketDisconnect) as exc:
                    ws.receive_json()
                assert exc.value.code == code
    asyncio.run(app.state.container.engine.dispose())


# --- service ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    ({"username": "Alice"}, "invalid username"),
    ({"username": "a"}, "invalid username"),
    ({"username": "x" * 33}, "invalid username"),
    ({"username": "al ice"}, "invalid username"),
    ({"password": "short"}, "too short"),
    ({"role": "root"}, "unknown role"),
    ({"extension": "1"}, "invalid extension"),
    ({"extension": "10a1"}, "invalid extension"),
    ({"queues": ["Sales"]}, "invalid queue"),
    ({"queues": "ok,bad queue"}, "invalid queue"),
])
async def test_create_user_validation(db, kwargs, message):
    args = {"username": "alice", "password": PASSWORD, "role": "agent"} | kwargs
    with pytest.raises(ValueError, match=message):
        await service.create_user(db=db, **args)


async def test_duplicate_username_and_extension(db):
    await make_user(db, username="alice", extension="1001")
    with pytest.raises(ValueError, match="already exists"):
        await service.create_user(db=db, username="alice", password=PASSWORD, role="agent")
    with pytest.raises(ValueError, match="extension 1001 is already assigned"):
        await service.create_user(db=db, username="bob", password=PASSWORD, role="agent",
                                  extension="1001")


async def test_password_is_hashed_with_argon2id(db):
    user = await make_user(db, username="alice")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash and PASSWORD not in repr(user)


async def test_agent_directory_maps_phones_to_active_agents(app, db, settings):
    from agent_desk.directory import AgentDirectory

    await make_user(db, username="a1", extension="1001", queues="sales,support")
    await make_user(db, username="a2", extension="1002")
    await make_user(db, username="sup", role="supervisor")
    off = await make_user(db, username="off", extension="1003")
    off.active = False
    await db.commit()
    directory = AgentDirectory(settings)
    await directory.refresh(app.state.container.sessionmaker)
    assert directory.device_names() == {"Local/1001@agents": "a1", "Local/1002@agents": "a2"}
    assert directory.username_for(None, "Local/1001@agents-0000002a;1") == "a1"
    assert directory.username_for("a2", None) == "a2"
    assert directory.username_for("Agent 1003", "Local/1003@agents/n") is None
    assert directory.by_username["a1"].queues == ("sales", "support")


async def test_audit_redacts_secret_keys(app, db):
    await service.audit(db=db, actor="alice", action="user.create", target="bob",
                        detail={"role": "agent", "password": "hunter22",
                                "nested": {"access_token": "abc.def.ghi"}})
    await db.commit()
    [row] = await audit_rows(app, "user.create")
    detail = json.loads(row.detail)
    assert detail["role"] == "agent"
    assert "hunter22" not in row.detail and "abc.def.ghi" not in row.detail


# --- cli -------------------------------------------------------------------

def test_cli_add_and_list(tmp_path):
    env = cli_environment(tmp_path)
    runner = CliRunner()
    r = runner.invoke(user_group, ["add", "alice", "--role", "agent", "--password-stdin",
                                   "--extension", "1001", "--queues", "sales,support",
                                   "--display-name", "Alice Wang"],
                      input="s3cret-password\n", env=env)
    assert r.exit_code == 0, r.output
    assert r.output.strip() == "created user alice (agent, local phone)"

    r = runner.invoke(user_group, ["add", "alice", "--role", "agent", "--password-stdin"],
                      input="s3cret-password\n", env=env)
    assert r.exit_code == 1 and "already exists" in r.output

    r = runner.invoke(user_group, ["add", "bob", "--role", "root", "--password-stdin"],
                      input="s3cret-password\n", env=env)
    assert r.exit_code == 1 and "unknown role" in r.output

    r = runner.invoke(user_group, ["add", "bob", "--role", "agent", "--password-stdin"],
                      input="short\n", env=env)
    assert r.exit_code == 1 and "too short" in r.output

    r = runner.invoke(user_group, ["add", "bob", "--role", "agent"], input="", env=env)
    assert r.exit_code == 1 and "--password-stdin" in r.output

    r = runner.invoke(user_group, ["list"], env=env)
    assert r.exit_code == 0 and r.output.startswith("alice\tagent\t1001\tsales,support\tactive")

    async def check():
        engine = make_engine(env["CTIDESK_DATABASE_URL"])
        from ctidesk.db import make_sessionmaker
        async with make_sessionmaker(engine)() as s:
            user = await service.authenticate(db=s, username="alice", password="s3cret-password")
            rows = list((await s.execute(select(AuditLog))).scalars())
        await engine.dispose()
        return user, rows

    user, rows = asyncio.run(check())
    assert user is not None and user.display_name == "Alice Wang"
    assert [r.action for r in rows] == ["user.create"]
    assert "s3cret-password" not in rows[0].detail


def test_production_hashing_uses_the_library_defaults(tmp_path, monkeypatch):
    """The tests hash at argon2's floor (tests/conftest.py); a site gets the library's defaults."""
    from argon2 import PasswordHasher, extract_parameters

    from accounts import security
    from ctidesk.settings import Settings
    from tests.conftest import TEST_HASH_COST

    for name in TEST_HASH_COST:
        monkeypatch.delenv(name, raising=False)
    try:
        security.use_settings(Settings())
        made = extract_parameters(security.hash_password("a-long-enough-password"))
        library = PasswordHasher()
        assert (made.time_cost, made.memory_cost, made.parallelism) == \
            (library.time_cost, library.memory_cost, library.parallelism) == (3, 65536, 4)
    finally:
        security.use_settings(Settings(**{k.removeprefix("CTIDESK_").lower(): int(v)
                                          for k, v in TEST_HASH_COST.items()}))


async def test_a_raised_cost_rehashes_at_the_next_sign_in(client, db):
    """A hash made under other parameters is replaced, at the site's cost, when its user signs in."""
    from argon2 import extract_parameters

    from accounts import security
    from accounts.models import User
    from ctidesk.settings import Settings
    from sqlalchemy import select
    from tests.factories import PASSWORD, make_user

    await make_user(db, "rehash", role="agent")
    before = extract_parameters((await db.execute(select(User.password_hash).where(
        User.username == "rehash"))).scalar_one())
    try:
        security.use_settings(Settings(password_hash_time_cost=2, password_hash_memory_kib=2048,
                                       password_hash_parallelism=1))
        r = await client.post("/api/v1/auth/login", json={"username": "rehash", "password": PASSWORD})
        assert r.status_code == 200, r.text
    finally:
        security.use_settings(Settings())
    db.expire_all()
    after = extract_parameters((await db.execute(select(User.password_hash).where(
        User.username == "rehash"))).scalar_one())
    assert (before.time_cost, before.memory_cost) == (1, 1024)
    assert (after.time_cost, after.memory_cost) == (2, 2048)
