"""The sandbox's Asterisk configuration, secrets, test-call building and raw AMI tools.

No Asterisk needed: templates are rendered into a tmp dir; AMI is a fake
server on 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctidesk.settings import Settings, load_settings
from sandbox import config as sbconfig
from sandbox import provision as prov
from sandbox.calls import TestCallError, build_originate, quote_callerid
from sandbox.cli import asterisk_config_command, call_command, sandbox_group
from sandbox.rawami import RawAmi, capture, parse_block
from sandbox.runner import chroot_path, ensure_secret

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def settings(tmp_path) -> Settings:
    return load_settings(env={"CTIDESK_CONFIG": str(tmp_path / "none.toml"),
                              "CTIDESK_STATE_DIR": str(tmp_path / "state")})


@pytest.fixture
def rendered(settings, tmp_path) -> Path:
    etc = tmp_path / "etc-asterisk"
    files = sbconfig.render_sandbox_config(settings, secret="s3cret-value")
    sbconfig.write_files(files, etc)
    return etc


def contexts(text: str) -> list[str]:
    return re.findall(r"^\[([^\]]+)\]", text, flags=re.M)


def _read(etc: Path, name: str) -> str:
    return (etc / name).read_text(encoding="utf-8")


# ------------------------------------------------------------------ dialplan

def test_dialplan_has_the_contexts(rendered):
    ext = _read(rendered, "extensions.conf")
    assert '#include "ctidesk_extensions.conf"' in ext
    all_contexts = contexts(ext) + contexts(_read(rendered, "ctidesk_extensions.conf"))
    for ctx in ("general", "globals", "ctidesk-inbound", "ctidesk-rec", "agents", "ctidesk-caller"):
        assert ctx in all_contexts
    assert "CTIDESK_AGI = agi://127.0.0.1:4573" in ext
    assert "SIMPHONE_ANSWER_DELAY = 3" in ext
    assert "SIMPHONE_TALK_TIME = 4" in ext


def test_inbound_falls_back_to_support_and_records(rendered):
    inbound = _read(rendered, "ctidesk_extensions.conf")
    assert "exten => 4000,1,Answer()" in inbound
    assert "AGI(${CTIDESK_AGI}/ivr)" in inbound
    assert '"${AGISTATUS}" = "SUCCESS" & "${IVR_QUEUE}" != ""' in inbound
    assert "Set(IVR_QUEUE=support)" in inbound
    assert "Set(__REC=/var/spool/asterisk/monitor/${UNIQUEID}.wav)" in inbound
    # Asterisk 22: the gosub is Queue()'s 7th argument
    queue_call = re.search(r"Queue\(([^)]*)\)", inbound).group(1).split(",")
    # t: the agent may transfer; c: the caller goes on to the post-call survey when the agent hangs up
    assert queue_call[0] == "${IVR_QUEUE}" and queue_call[1] == "tc" and queue_call[4] == "300"
    assert '"${QUEUESTATUS}" = "CONTINUE"]?ctidesk-survey,s,1)' in inbound
    assert "AGI(${CTIDESK_AGI}/survey,${IVR_QUEUE},${MEMBERINTERFACE},${MEMBERNAME})" in inbound
    assert queue_call[6] == "ctidesk-rec"
    # a direct call rings the agent's PJSIP phone if ctidesk rendered one, else Local/<ext>@agents
    assert "exten => _1XXX,1,Gosub(ctidesk-agent-phone,${EXTEN},1)" in inbound
    assert " same => n,Dial(${AGENT_PHONE},30)" in inbound
    assert "Set(AGENT_PHONE=Local/${EXTEN}@agents)" in inbound
    assert 'ExecIf($["${PJSIP_ENDPOINT(${EXTEN},context)}" != ""]?Set(AGENT_PHONE=PJSIP/${EXTEN}))' in inbound
    assert "exten => s,1,MixMonitor(${REC})" in inbound


def test_simulated_phones_and_caller(rendered):
    ext = _read(rendered, "extensions.conf")
    agents = ext.split("[agents]")[1].split("[ctidesk-caller]")[0]
    assert "exten => _X.,1,Ringing()" in agents
    assert "DB_EXISTS(simphone/${EXTEN}/answer_delay)" in agents
    assert "DB_EXISTS(simphone/${EXTEN}/talk_time)" in agents
    assert '"${ANSWER_DELAY}" = "never"' in agents and "Wait(300)" in agents
    assert "Playback(hello-world)" in agents
    caller = ext.split("[ctidesk-caller]")[1]
    assert "SendDTMF(${CALLER_DTMF},250)" in caller
    assert "Set(HOLD=30)" in caller and "Wait(${HOLD})" in caller


def test_agi_address_comes_from_settings(settings):
    files = sbconfig.render_sandbox_config(settings.with_(agi_host="0.0.0.0", agi_port=4999), secret="x")
    assert "CTIDESK_AGI = agi://127.0.0.1:4999" in files["extensions.conf"]


# ------------------------------------------------------------------ AMI config

def test_ami_binds_loopback_with_timestamps(rendered, settings):
    manager = _read(rendered, "manager.conf")
    assert re.search(r"^bindaddr = 127\.0\.0\.1$", manager, re.M)
    assert re.search(rf"^port = {settings.ami_port}$", manager, re.M)
    assert re.search(r"^timestampevents = yes", manager, re.M)
    assert re.search(r"^enabled = yes$", manager, re.M)
    account = _read(rendered, "ctidesk_manager.conf")
    assert f"[{settings.ami_user}]" in account
    assert "secret = s3cret-value" in account
    assert "permit = 127.0.0.1/255.255.255.255" in account
    assert stat.S_IMODE((rendered / "ctidesk_manager.conf").stat().st_mode) == 0o600


def test_semicolon_in_secret_is_escaped(settings):
    files = sbconfig.render_sandbox_config(settings, secret="a;b")
    assert "secret = a\\;b" in files["ctidesk_manager.conf"]
    with pytest.raises(sbconfig.ConfigRenderError):
        sbconfig.render_sandbox_config(settings, secret="a\nwrite = all")
    with pytest.raises(sbconfig.ConfigRenderError):
        sbconfig.render_sandbox_config(settings.with_(ami_user="cti]\n[evil"), secret="x")


def test_queues_ringall_without_static_members(rendered):
    queues = _read(rendered, "queues.conf") + _read(rendered, "ctidesk_queues.conf")
    for name in ("support", "sales", "operator"):
        assert f"[{name}](ctidesk-queue-defaults)" in queues
    assert "[ctidesk-queue-defaults](!)" in queues
    assert "strategy = ringall" in queues
    assert re.search(r"^timeout = 15$", queues, re.M)
    assert re.search(r"^retry = 2$", queues, re.M)
    assert "member =>" not in queues and "member=" not in queues


def test_queue_wrapup_comes_from_the_supervisor_config(settings, tmp_path):
    cfg = tmp_path / "supervisor.toml"
    cfg.write_text('[pause_reasons]\nbreak = { en = "Break" }\n[wrapup]\n"*" = 5\nsupport = 30\n', encoding="utf-8")
    settings = settings.with_(supervisor_config=cfg)  # the setting names the file (CTIDESK_SUPERVISOR_CONFIG)
    queues = sbconfig.render_sandbox_config(settings, secret="x")["ctidesk_queues.conf"]
    sections: dict[str, str] = {}
    current = None
    for line in queues.splitlines():
        if m := re.match(r"^\[([a-z_-]+)\]", line):
            current = m.group(1)
            sections[current] = ""
        elif current:
            sections[current] += line + "\n"
    assert re.search(r"^wrapuptime = 5$", sections["ctidesk-queue-defaults"], re.M)
    assert re.search(r"^wrapuptime = 30$", sections["support"], re.M)
    assert "wrapuptime" not in sections["sales"] and "wrapuptime" not in sections["operator"]


def test_modules_and_logging_quiet(rendered):
    modules = _read(rendered, "modules.conf")
    assert "autoload = yes" in modules
    for noisy in ("chan_dahdi.so", "res_hep.so", "chan_mobile.so", "cdr_pgsql.so", "cel_pgsql.so",
                  "res_config_pgsql.so", "chan_iax2.so"):
        assert f"noload = {noisy}" in modules
    for sip in ("res_pjsip.so", "chan_pjsip.so", "res_pjsip_transport_websocket.so", "res_http_websocket.so"):
        assert f"noload = {sip}" not in modules  # real SIP phones and the trunk (issue 11)
    logger = _read(rendered, "logger.conf")
    assert "console => error" in logger
    assert "messages.log" in logger


def test_write_files_only_touches_changed(settings, tmp_path):
    etc = tmp_path / "etc"
    files = sbconfig.render_sandbox_config(settings, secret="one")
    first = sbconfig.write_files(files, etc)
    assert set(first.changed) == set(sbconfig.SANDBOX_FILES.values())
    again = sbconfig.write_files(files, etc)
    assert again.changed == []
    changed = sbconfig.write_files(sbconfig.render_sandbox_config(settings, secret="two"), etc)
    assert changed.changed == ["ctidesk_manager.conf"]


def test_template_placeholders():
    text = "exten => _X.,1,Dial(Local/${EXTEN}@agents)\nport = @{ami_port}\n"
    assert sbconfig.render_template(text, {"ami_port": "5038"}) == \
        "exten => _X.,1,Dial(Local/${EXTEN}@agents)\nport = 5038\n"
    with pytest.raises(sbconfig.ConfigRenderError):
        sbconfig.render_template("@{missing}", {})


def test_every_template_renders_completely(settings):
    for files in (sbconfig.render_sandbox_config(settings, secret="x"), sbconfig.render_site_snippets(settings)):
        for name, text in files.items():
            assert "@{" not in text, name


# ------------------------------------------------------------------ secrets

def test_secret_generated_once_private_and_not_in_repr(tmp_path):
    env = {"CTIDESK_CONFIG": str(tmp_path / "none.toml"), "CTIDESK_STATE_DIR": str(tmp_path / "st"),
           "CTIDESK_SANDBOX_ROOT": str(tmp_path / "root")}
    before = load_settings(env=env)
    secret = ensure_secret(before)
    path = tmp_path / "root.state" / "ami.secret"
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secret) >= 32
    assert ensure_secret(before) == secret  # stable
    after = load_settings(env=env)
    assert after.ami_secret == secret       # settings.py picks it up
    assert secret not in repr(after)
    assert secret not in str(after)


def test_configured_secret_wins(tmp_path):
    env = {"CTIDESK_CONFIG": str(tmp_path / "none.toml"), "CTIDESK_STATE_DIR": str(tmp_path / "st"),
           "CTIDESK_SANDBOX_ROOT": str(tmp_path / "root"), "CTIDESK_AMI_SECRET": "from-env"}
    assert ensure_secret(load_settings(env=env)) == "from-env"
    assert not (tmp_path / "root.state" / "ami.secret").exists()


# ------------------------------------------------------------------ asterisk-config

def test_asterisk_config_writes_site_snippets(tmp_path, settings):
    out = tmp_path / "site"
    result = CliRunner().invoke(asterisk_config_command, ["--out", str(out)], obj=settings)
    assert result.exit_code == 0, result.output
    for name in ("ctidesk_extensions.conf", "ctidesk_queues.conf", "ctidesk_manager.conf", "README.txt"):
        assert (out / name).is_file(), name
    manager = (out / "ctidesk_manager.conf").read_text()
    assert sbconfig.SITE_SECRET_PLACEHOLDER in manager
    readme = (out / "README.txt").read_text()
    assert '#include "ctidesk_extensions.conf"' in readme
    assert "timestampevents = yes" in readme
    assert "[ctidesk-inbound]" in (out / "ctidesk_extensions.conf").read_text()


def test_asterisk_config_renders_the_agents_sip_phones(tmp_path):
    """A site gets one PJSIP endpoint per sip/webrtc agent from its users table,
    with the digest hash only (the password printed once is not in it)."""
    import asyncio

    from accounts import service as accounts
    from ctidesk.db import Base, make_engine, make_sessionmaker
    from ctidesk.schema import import_all_models

    settings = load_settings(env={"CTIDESK_CONFIG": str(tmp_path / "none.toml"),
                                  "CTIDESK_STATE_DIR": str(tmp_path / "state"),
                                  "CTIDESK_ASTERISK_FS_ROOT": str(tmp_path / "site-fs")})

    async def seed() -> str:
        import_all_models()
        engine = make_engine(settings.effective_database_url)
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        async with make_sessionmaker(engine)() as db:
            desk = await accounts.create_user(db=db, username="dora", password="long-enough-pw", role="agent",
                                              extension="1201", phone="sip")
            await accounts.create_user(db=db, username="wendy", password="long-enough-pw", role="agent",
                                       extension="1202", phone="webrtc")
            await accounts.create_user(db=db, username="lou", password="long-enough-pw", role="agent",
                                       extension="1203")
            await db.commit()
            password = desk.sip_password_once
        await engine.dispose()
        return password

    password = asyncio.run(seed())
    out = tmp_path / "site"
    result = CliRunner().invoke(asterisk_config_command, ["--out", str(out)], obj=settings)
    assert result.exit_code == 0, result.output
    agents = (out / sbconfig.AGENTS_PJSIP).read_text()
    assert "[1201](ctidesk-sip)" in agents and "[1202](ctidesk-webrtc)" in agents
    assert "[1203]" not in agents  # a simulated phone has no endpoint
    assert password and password not in agents and "password_digest = md5:" in agents
    assert (out / sbconfig.AGENTS_PJSIP).stat().st_mode & 0o777 == 0o600
    assert '#include "ctidesk_pjsip_agents.conf"' in (out / "README.txt").read_text()


def test_cli_exports():
    assert {"up", "down", "status", "restart", "phone"} <= set(sandbox_group.commands)
    assert call_command.name == "call"
    assert asterisk_config_command.name == "asterisk-config"


# ------------------------------------------------------------------ CallerID quoting

def ast_callerid_parse(value: str) -> tuple[str | None, str | None]:
    """Python port of Asterisk's ast_callerid_parse (main/callerid.c) for the "name" <num> form."""
    def strip_quoted(s: str) -> str:
        s = s.strip()
        if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
            return s[1:-1]
        return s

    def unescape(s: str) -> str:
        out, i = [], 0
        while i < len(s):
            if s[i] == "\\":
                i += 1
                if i >= len(s):
                    break
            out.append(s[i])
            i += 1
        return "".join(out)

    instr = strip_quoted(value)
    ls = instr.rfind("<")
    if ls < 0:
        return None, None
    le = instr.rfind(">", ls)
    number = instr[ls + 1: le if le >= 0 else None]
    name = unescape(strip_quoted(instr[:ls]))
    return name, number


@pytest.mark.parametrize("name", [
    HOSTILE, 'He said "hi"', "back\\slash\\", 'trailing quote"', "comma, semi; pipe|",
    "李四 <13900000000>", "'single' & ?", "<", ">", '"', "\\",
])
def test_callerid_quoting_round_trips(name):
    value = quote_callerid(name, "13800138000")
    assert ast_callerid_parse(value) == (name, "13800138000")


def test_callerid_control_characters_never_reach_the_wire():
    value = quote_callerid("evil\r\nAction: Originate", "1")
    assert "\r" not in value and "\n" not in value
    with pytest.raises(TestCallError):
        quote_callerid("x" * 300, "1")
    with pytest.raises(TestCallError):
        quote_callerid("x", "123\r\nAction: x")
    assert quote_callerid(None, "02155550123") == "<02155550123>"


def test_build_originate():
    call_id, action = build_originate("13912345678", name="Li Si", via="local")
    assert action["Action"] == "Originate"
    assert action["Channel"] == "Local/s@ctidesk-caller"
    assert action["Context"] == "ctidesk-inbound" and action["Exten"] == "4000"
    assert str(action["Priority"]) == "1" and action["Async"] == "true"
    assert action["CallerID"] == '"Li Si" <13912345678>'
    assert action["Variable"] == [f"CTIDESK_TESTCALL={call_id}"]
    _, action = build_originate("1", dtmf="2#", to="1001", hold=5)
    assert action["Exten"] == "1001"
    assert "CALLER_DTMF=2#" in action["Variable"] and "CALLER_HOLD=5" in action["Variable"]
    for bad in ({"dtmf": "1,2"}, {"to": "4000,1"}, {"hold": 0}, {"to": "x"}, {"via": "iax"}):
        with pytest.raises(TestCallError):
            build_originate("1", **bad)


def test_build_originate_over_the_carrier_trunk():
    """The default: the caller is on the simulated carrier, the call crosses the SIP trunk."""
    call_id, action = build_originate("13912345678", name="Li Si")
    assert action["Channel"] == "Local/s@carrier-caller"
    assert action["Context"] == "carrier-out" and action["Exten"] == "4000"
    assert action["Variable"] == [f"CTIDESK_TESTCALL={call_id}"]
    # a number written with spaces or dashes goes out as written (CALLER_NUMBER)
    _, action = build_originate("+86 139 1234 5678")
    assert "CALLER_NUMBER=+86 139 1234 5678" in action["Variable"]
    _, action = build_originate("0086-139-1234-5678")
    assert "CALLER_NUMBER=0086-139-1234-5678" in action["Variable"]
    for bad in ("+86  139", "139-", "-139", "13a9", "+86 139\n1"):
        with pytest.raises(TestCallError):
            build_originate(bad)
    with pytest.raises(TestCallError):  # only a trunk carries spaces
        build_originate("+86 139 1234 5678", via="local")


# ------------------------------------------------------------------ provisioning

def test_read_mirror(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\n# comment\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
                       "Types: deb\nURIs: http://other.example/debian-security\n")
    assert prov.read_mirror(sources) == "http://mirror.example/debian"
    with pytest.raises(prov.ProvisionError):
        prov.read_mirror(tmp_path / "missing")


def _fake_root(path: Path, version: str = "1:22.0.0-1") -> Path:
    (path / "usr/sbin").mkdir(parents=True)
    (path / "usr/sbin/asterisk").write_text("#!/bin/true\n")
    (path / "var/lib/dpkg").mkdir(parents=True)
    (path / "var/lib/dpkg/status").write_text(
        "Package: adduser\nStatus: install ok installed\nVersion: 3\n\n"
        f"Package: asterisk\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n"
        "Description: PBX\n more text\n\n")
    return path


def test_provision_adopts_a_finished_partial(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    root = tmp_path / "asterisk-sid"
    _fake_root(prov.partial_path(root))
    logs = []
    assert prov.provision(root, log=logs.append) == root
    assert not prov.partial_path(root).exists()
    assert prov.is_provisioned(root)
    assert prov.read_marker(root)["asterisk"] == "1:22.0.0-1"
    assert any("adopting" in line for line in logs)
    # cached: nothing more to do, even without root
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert prov.provision(root, log=logs.append) == root


def test_provision_needs_root(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(prov.ProvisionError, match="root"):
        prov.provision(tmp_path / "asterisk-sid", log=lambda _: None)


def test_provision_failure_causes():
    assert "disk is full" in prov._classify_failure("tar: x: No space left on device")
    assert "not installable" in prov._classify_failure("E: Couldn't find these debs: asterisk")
    assert "not installable" in prov._classify_failure(
        "asterisk : Depends: libfoo but it is not installable")
    assert "mirror" in prov._classify_failure("E: Failed getting release file http://x/dists/sid/Release")


def test_default_root_override(tmp_path):
    assert prov.default_root({"CTIDESK_SANDBOX_ROOT": str(tmp_path / "r")}) == tmp_path / "r"
    assert prov.default_root({}).name == "asterisk-sid"


def test_chroot_path_stays_inside_the_root(tmp_path):
    root = tmp_path / "root"
    (root / "run").mkdir(parents=True)
    (root / "var").mkdir()
    os.symlink("/run", root / "var/run")          # absolute link, as in Debian
    os.symlink("../etc", root / "var/etc")         # relative link
    assert chroot_path(root, "/var/run/asterisk") == root / "run/asterisk"
    assert chroot_path(root, "/var/etc/asterisk") == root / "etc/asterisk"
    assert chroot_path(root, "/etc/asterisk") == root / "etc/asterisk"


# ------------------------------------------------------------------ raw AMI + oneshot against a fake AMI

class FakeAmi:
    """A scripted AMI server on 127.0.0.1 (one connection per test)."""

    def __init__(self, secret="good", events=()):
        self.secret, self.events = secret, list(events)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.received: list[str] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        with conn:
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, _, buf = buf.partition(b"\r\n\r\n")
                    headers = parse_block(raw + b"\r\n\r\n")
                    self.received.append(headers.get("Action", ""))
                    aid = headers.get("ActionID", "")
                    action = headers.get("Action", "").lower()
                    if action == "login":
                        if headers.get("Secret") != self.secret:
                            conn.sendall(f"Response: Error\r\nActionID: {aid}\r\nMessage: Authentication failed\r\n\r\n".encode())
                            return
                        conn.sendall(f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n".encode())
                        for event in self.events:
                            conn.sendall(event)
                    elif action == "coresettings":
                        conn.sendall(f"Response: Success\r\nActionID: {aid}\r\nAMIversion: 9.0.0\r\n"
                                     f"AsteriskVersion: 22.10.1\r\n\r\n".encode())
                    elif action == "logoff":
                        conn.sendall(f"Response: Goodbye\r\nActionID: {aid}\r\n\r\n".encode())
                        return
                    else:
                        conn.sendall(f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n".encode())

    def close(self):
        self.sock.close()


@pytest.fixture
def fake_ami():
    servers = []

    def make(**kw):
        server = FakeAmi(**kw)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def test_capture_writes_exact_bytes(fake_ami, tmp_path):
    events = [b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n",
              "Event: Newchannel\r\nCallerIDName: 李四 <x>\r\n\r\n".encode()]
    server = fake_ami(events=events)
    out = tmp_path / "trace.ami"
    with open(out, "wb") as fh:
        count = capture("127.0.0.1", server.port, "cti", "good", fh, 0.5)
    assert count == 2
    assert out.read_bytes() == b"".join(events)


def test_raw_ami_refused_login(fake_ami):
    server = fake_ami()
    with RawAmi("127.0.0.1", server.port) as ami:
        with pytest.raises(Exception, match="refused"):
            ami.login("cti", "bad")


async def test_oneshot_action_and_ping(fake_ami, settings):
    from cti.oneshot import ami_action, ami_ping

    server = fake_ami()
    s = settings.with_(ami_port=server.port, ami_secret="good")
    resp = await ami_action(s, {"Action": "QueueAdd", "Queue": "support", "Interface": "Local/1@agents/n"},
                            timeout=5)
    assert resp["Response"] == "Success" and isinstance(resp, dict)
    assert await ami_ping(s, timeout=5) == "22.10.1"


async def test_oneshot_errors(fake_ami, settings):
    from cti.oneshot import AmiLoginFailed, AmiUnreachable, ami_action, ami_ping

    server = fake_ami()
    with pytest.raises(AmiLoginFailed) as info:
        await ami_action(settings.with_(ami_port=server.port, ami_secret="wrong-secret-xyz"),
                         {"Action": "Ping"}, timeout=5)
    assert "wrong-secret-xyz" not in str(info.value)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(AmiUnreachable):
        await ami_action(settings.with_(ami_port=port, ami_secret="x"), {"Action": "Ping"}, timeout=3)
    assert await ami_ping(settings.with_(ami_port=port, ami_secret="x"), timeout=3) is None
    with pytest.raises(AmiLoginFailed, match="no AMI secret"):
        await ami_action(settings.with_(ami_port=server.port, ami_secret=""), {"Action": "Ping"}, timeout=3)


async def test_oneshot_timeout_on_silent_server(settings):
    from cti.oneshot import AmiUnreachable, ami_action

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(AmiUnreachable):
            await ami_action(settings.with_(ami_port=silent.getsockname()[1], ami_secret="x"),
                             {"Action": "Ping"}, timeout=1.0)
        assert loop.time() - start < 3
    finally:
        silent.close()


def test_sip_is_on_loopback_only(rendered):
    """Every SIP, WSS, HTTP and RTP socket the sandbox renders is bound to 127.0.0.1."""
    pjsip = _read(rendered, "pjsip.conf")
    binds = re.findall(r"^bind = (.+)$", pjsip, re.M)
    assert binds == ["127.0.0.1:5060", "127.0.0.1"]
    assert "protocol = wss" in pjsip
    # the trunk is known by the carrier's address and port, before any phone's username
    assert "match = 127.0.0.1:5070" in pjsip and "endpoint_identifier_order = ip,username" in pjsip
    http = _read(rendered, "http.conf")
    assert "bindaddr = 127.0.0.1" in http and "tlsbindaddr = 127.0.0.1:8089" in http
    templates = _read(rendered, "ctidesk_pjsip.conf")
    assert templates.count("bind_rtp_to_media_address = yes") == 2 and "media_address = 127.0.0.1" in templates
    assert "webrtc = yes" in templates
    assert '#tryinclude "ctidesk_pjsip_agents.conf"' in pjsip


def test_carrier_config(settings):
    files = sbconfig.render_carrier_config(settings, secret="s3cret")
    assert "port = 5039" in files["manager.conf"] and "bindaddr = 127.0.0.1" in files["manager.conf"]
    assert "bind = 127.0.0.1:5070" in files["pjsip.conf"] and "contact = sip:127.0.0.1:5060" in files["pjsip.conf"]
    assert "send_pai = yes" in files["pjsip.conf"]
    assert "astetcdir => /etc/asterisk-carrier" in files["asterisk.conf"]
    assert "[carrier-caller]" in files["extensions.conf"] and "Dial(PJSIP/${EXTEN}@pbx" in files["extensions.conf"]
    assert "@{" not in "".join(files.values())


def test_agent_phones_render():
    from accounts import phones

    a = phones.PhoneAccount("1001", "webrtc", phones.ha1("1001", "ctidesk", "pw"), "ctidesk", 'Alice "王丽"\n;x')
    b = phones.PhoneAccount("1002", "sip", phones.ha1("1002", "ctidesk", "pw2"), "ctidesk", "Bob")
    text = phones.render_pjsip([a, b])
    assert "[1001](ctidesk-webrtc)" in text and "[1002](ctidesk-sip)" in text
    assert f"password_digest = md5:{a.ha1}" in text and "pw" not in text.replace(a.ha1, "").replace(b.ha1, "")
    assert 'callerid = "Alice  王丽   x" <1001>' in text  # no quote, newline or ';' reaches the file
    with pytest.raises(ValueError):
        phones.render_pjsip([phones.PhoneAccount("10;01", "sip", a.ha1, "ctidesk", "x")])
