"""Run the sandbox Asterisk: start, stop, reload, status, simulated phones.

Asterisk runs from the cached Debian sid root (see :mod:`sandbox.provision`)
with ``chroot <root> asterisk -F`` and shares the host's loopback. State kept
outside the root, in ``<root>.state/`` beside it:

* ``ami.secret``   — the AMI secret, generated once (mode 0600); ``load_settings``
  reads it when no secret is configured;
* ``asterisk.pid`` — the pid of the Asterisk we started;
* ``lock``         — serialises ``up``/``down`` between concurrent callers.

Every wait is bounded. Asterisk is only ever stopped by its own pid, after
checking that the pid really is an ``asterisk`` whose root is the sandbox root.

Use from Python::

    from sandbox.runner import Sandbox
    sb = Sandbox()              # load_settings(), default root
    for line in sb.up(): print(line)
    sb.status().version         # '22.x...'
"""
from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ctidesk.settings import Settings, load_settings

from cti.oneshot import AmiError, ami_action, ami_command, ami_ping, wait_for_ami
from sandbox import config as sbconfig
from sandbox import tls
from sandbox.provision import ProvisionError, default_root, is_provisioned, provision, read_marker

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
RX_TIMEOUT = 15.0
# Files whose change needs a restart rather than `core reload`.
RESTART_FILES = {"asterisk.conf", "modules.conf", "logger.conf"}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class SandboxError(RuntimeError):
    """The sandbox Asterisk could not be started, stopped or reached; says why."""


def run_sync(coro):
    """Run a coroutine to completion, also from code already inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="ctidesk-sandbox-ami")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


# ---------------------------------------------------------------- state files

def state_dir(settings: Settings) -> Path:
    """Beside the machine-wide sandbox root (not in a project state dir): one
    sandbox Asterisk per machine, so one pid file, one lock, one secret."""
    return settings.sandbox_state_dir


def secret_file(settings: Settings) -> Path:
    return settings.sandbox_secret_file


def pid_file(settings: Settings) -> Path:
    return state_dir(settings) / "asterisk.pid"


def ensure_secret(settings: Settings) -> str:
    """The AMI secret: the configured one, else the sandbox's (generated once, 0600)."""
    if settings.ami_secret:
        return settings.ami_secret
    path = secret_file(settings)
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_urlsafe(32)
    tmp = path.with_name(".ami.secret.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    try:
        os.link(tmp, path)  # never replace a secret another process just wrote
    except FileExistsError:
        tmp.unlink()
        return path.read_text(encoding="utf-8").strip()
    tmp.unlink()
    return value


def effective_settings(settings: Settings | None = None) -> Settings:
    """Settings with the AMI secret filled in from the sandbox's secret file."""
    settings = settings or load_settings()
    if not settings.ami_secret:
        path = secret_file(settings)
        if path.exists():
            settings = settings.with_(ami_secret=path.read_text(encoding="utf-8").strip())
    return settings


# ---------------------------------------------------------------- chroot paths

def _flock_within(fh, timeout: float, poll: float, busy: str) -> None:
    """Take the exclusive lock on ``fh``, trying every ``poll`` seconds: SandboxError(``busy``) after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > end:
                raise SandboxError(busy) from None
            time.sleep(poll)  # polling a lock another process holds


@contextlib.contextmanager
def exclusive_use(settings: Settings | None = None, *, who: str = "", timeout: float = 1800.0):
    """Hold the machine's one sandbox Asterisk for a whole test session or benchmark.

    There is one sandbox per machine (AMI 5038, FastAGI 4573). Two test
    sessions using it at once would remove each other's queue members, restart
    Asterisk under each other and fight over port 4573. Whoever places calls
    holds this lock (a separate file from the short ``sandbox up/down`` lock)
    for as long as it uses Asterisk; others wait, and say that they wait.
    """
    d = state_dir(settings or load_settings())
    d.mkdir(parents=True, exist_ok=True)
    fh = open(d / "use.lock", "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for the sandbox Asterisk ({d / 'use.lock'} held by another session) {who}",
                  file=sys.stderr, flush=True)
            _flock_within(fh, timeout, 0.5, f"the sandbox Asterisk stayed busy for {timeout:.0f}s "
                                            f"({d / 'use.lock'})")
        yield
    finally:
        fh.close()


def chroot_path(root: Path, inner: str) -> Path:
    """Host path of ``inner`` as seen inside ``root``, following symlinks *within* root.

    (``<root>/var/run`` is an absolute link to ``/run``; naively joining paths
    would land on the host's /run.)
    """
    root = Path(root)
    parts = [p for p in inner.split("/") if p]
    current = Path("/")
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        host = root / str(candidate).lstrip("/")
        if host.is_symlink():
            hops += 1
            if hops > 40:
                raise SandboxError(f"too many symlinks resolving {inner} in {root}")
            target = os.readlink(host)
            if target.startswith("/"):
                current = Path("/")
            parts = [p for p in target.split("/") if p] + parts
            continue
        current = candidate
    return root / str(current).lstrip("/")


# ---------------------------------------------------------------- processes

def _proc_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            data = fh.read()
    except OSError:
        return None
    return data.rpartition(")")[2].split()[0] if ")" in data else None


def pid_alive(pid: int) -> bool:
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def is_sandbox_asterisk(pid: int, root: Path) -> bool:
    """True if ``pid`` is a live ``asterisk`` chrooted into ``root``."""
    if not pid_alive(pid):
        return False
    try:
        proc_root = os.readlink(f"/proc/{pid}/root")
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return (os.path.realpath(proc_root) == os.path.realpath(root)
            and os.path.basename(exe.replace(" (deleted)", "")) == "asterisk")


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class SandboxStatus:
    root: Path
    provisioned: bool
    running: bool
    pid: int | None = None
    ami_reachable: bool = False
    version: str | None = None
    package_version: str | None = None
    error: str | None = None
    lines: list[str] = field(default_factory=list)


class Sandbox:
    """The project's sandbox Asterisk (the PBX) for one ``Settings``.

    ``up()`` also starts the simulated carrier (:class:`Carrier`): a second
    Asterisk from the same root with its own config dir, which sends test
    calls to the PBX over a SIP trunk on loopback, as a real carrier does.
    """

    name = "asterisk"                      # pid file and start log names
    etc_inner = "/etc/asterisk"            # config dir inside the root
    run_inner = "/var/run/asterisk"        # ctl socket and pid file inside the root
    log_inner = "/var/log/asterisk"
    dirs_inner = ("/var/spool/asterisk/monitor", "/var/lib/asterisk", "/var/cache/asterisk")
    cli_args: tuple[str, ...] = ()         # `asterisk -C <file>` for a second instance

    def __init__(self, settings: Settings | None = None, root: Path | None = None,
                 log: Callable[[str], None] | None = None):
        self.settings = settings or load_settings()
        self.root = Path(root) if root is not None else default_root()
        self.log = log or (lambda line: None)

    title = "Asterisk"

    @property
    def ami_port(self) -> int:
        return int(self.settings.ami_port)

    @property
    def carrier(self) -> "Carrier":
        return Carrier(self.settings, self.root, self.log)

    # -- helpers -------------------------------------------------------------

    def _say(self, line: str, lines: list[str]) -> None:
        lines.append(line)
        self.log(line)

    @property
    def etc_dir(self) -> Path:
        return chroot_path(self.root, self.etc_inner)

    def ami_settings(self) -> Settings:
        """The settings to reach this sandbox's AMI (secret filled in)."""
        return self.settings.with_(ami_secret=ensure_secret(self.settings), ami_port=self.ami_port)

    @contextlib.contextmanager
    def _lock(self, timeout: float = 120.0):
        d = state_dir(self.settings)
        d.mkdir(parents=True, exist_ok=True)
        fh = open(d / "lock", "a+")
        try:
            _flock_within(fh, timeout, 0.2, f"another ctidesk sandbox command holds {d / 'lock'}")
            yield
        finally:
            fh.close()

    def _require_root(self) -> None:
        if os.geteuid() != 0:
            raise SandboxError(f"running the sandbox Asterisk needs root (chroot); running as uid {os.geteuid()}")

    def rx(self, command: str, timeout: float = RX_TIMEOUT, check: bool = True) -> str:
        """``chroot <root> asterisk -rx COMMAND``; returns its output."""
        try:
            proc = subprocess.run(
                ["chroot", str(self.root), "/usr/sbin/asterisk", *self.cli_args, "-rx", command],
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise SandboxError(f"asterisk -rx {command!r} did not finish within {timeout:g}s") from None
        out = (proc.stdout or "") + (proc.stderr or "")
        if check and (proc.returncode != 0 or "Unable to connect to remote asterisk" in out):
            raise SandboxError(f"asterisk -rx {command!r} failed (rc={proc.returncode}): {out.strip()[-500:]}")
        return proc.stdout

    def pid(self) -> int | None:
        """The pid of the running sandbox Asterisk, or None."""
        for path in (self._pid_file, chroot_path(self.root, f"{self.run_inner}/asterisk.pid")):
            pid = _read_pid(path)
            if pid and is_sandbox_asterisk(pid, self.root):
                return pid
        return None

    @property
    def _pid_file(self) -> Path:
        return state_dir(self.settings) / f"{self.name}.pid"

    @property
    def _start_log(self) -> Path:
        return state_dir(self.settings) / f"{self.name}-start.log"

    def _write_pid(self, pid: int) -> None:
        path = self._pid_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{pid}\n", encoding="ascii")

    def _log_tail(self, lines: int = 15) -> str:
        parts = []
        for name in (f"{self.log_inner}/messages.log",):
            path = chroot_path(self.root, name)
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            parts.append("\n".join(text.rstrip().splitlines()[-lines:]))
        start_log = self._start_log
        with contextlib.suppress(OSError):
            text = start_log.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                parts.append(text[-2000:])
        return "\n".join(parts)

    # -- configuration -------------------------------------------------------

    def render(self) -> sbconfig.WriteResult:
        files = sbconfig.render_sandbox_config(self.settings, secret=ensure_secret(self.settings))
        result = sbconfig.write_files(files, self.etc_dir)
        tls.ensure_certificate(state_dir(self.settings), self.etc_dir / "keys")
        return result

    def _prepare_dirs(self) -> None:
        for inner in (self.run_inner, self.log_inner, *self.dirs_inner):
            chroot_path(self.root, inner).mkdir(parents=True, exist_ok=True)

    # -- lifecycle -----------------------------------------------------------

    def provision(self) -> Path:
        return provision(self.root, log=self.log)

    def up(self, timeout: float = START_TIMEOUT) -> list[str]:
        """Provision (cached), configure and start Asterisk; idempotent. Returns what it did."""
        lines: list[str] = []
        self._require_root()
        if self.settings.ami_host not in LOOPBACK_HOSTS:
            raise SandboxError(
                f"the settings point AMI at {self.settings.ami_host}, but the sandbox Asterisk listens on "
                "127.0.0.1 only; set CTIDESK_AMI_HOST=127.0.0.1 to use the sandbox"
            )
        with self._lock():
            lines += self._up_locked(timeout)
            lines += self.carrier._up_locked(timeout)
        return lines

    def _up_locked(self, timeout: float) -> list[str]:
        lines: list[str] = []
        if not is_provisioned(self.root):
            self._say(f"provisioning the Asterisk root {self.root}", lines)
        self.provision()
        secret_existed = secret_file(self.settings).exists() or bool(self.settings.ami_secret)
        ensure_secret(self.settings)
        if not secret_existed and self.name == "asterisk":
            self._say(f"generated the AMI secret in {secret_file(self.settings)}", lines)
        self._prepare_dirs()
        result = self.render()
        pid = self.pid()
        ami = self.ami_settings()
        if pid:
            self._write_pid(pid)
            if result.changed:
                self._say(f"config changed ({', '.join(result.changed)}): core reload", lines)
                self.rx("core reload")
                needs_restart = sorted(RESTART_FILES & set(result.changed))
                if needs_restart:
                    self._say(f"note: {', '.join(needs_restart)} changed; "
                              "run `ctidesk sandbox restart` for it to take effect", lines)
            else:
                self._say(f"{self.title} already running (pid {pid}), config unchanged", lines)
            version = self._wait_ready(pid, ami, timeout)
            self._say(f"AMI ready on {ami.ami_host}:{ami.ami_port} ({self.title} {version})", lines)
            return lines
        if result.changed:
            self._say(f"wrote {len(result.changed)} config file(s) into {self.etc_dir}", lines)
        self._start(ami, lines)
        pid = self.pid()
        version = self._wait_ready(pid, ami, timeout)
        self._say(f"AMI ready on {ami.ami_host}:{ami.ami_port} ({self.title} {version})", lines)
        return lines

    def _start(self, ami: Settings, lines: list[str]) -> None:
        end = time.monotonic() + 10.0
        while _port_open(ami.ami_host, int(ami.ami_port)) and time.monotonic() < end:
            time.sleep(0.2)  # a just-stopped Asterisk may still be releasing the port
        if _port_open(ami.ami_host, int(ami.ami_port)):
            raise SandboxError(
                f"something that is not the sandbox Asterisk already listens on "
                f"{ami.ami_host}:{ami.ami_port}; stop it or choose another CTIDESK_AMI_PORT"
            )
        # A stale pid/ctl from a crashed run would confuse the start-up checks.
        run_dir = chroot_path(self.root, self.run_inner)
        stale = run_dir / "asterisk.pid"
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
        start_log = self._start_log
        with open(start_log, "w", encoding="utf-8") as fh:
            try:
                proc = subprocess.run(
                    ["chroot", str(self.root), "/usr/sbin/asterisk", *self.cli_args, "-F", "-n"],
                    stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                    timeout=RX_TIMEOUT, start_new_session=True,
                )
            except subprocess.TimeoutExpired:
                raise SandboxError("`asterisk -F` did not return (it should fork and exit)") from None
        if proc.returncode != 0:
            raise SandboxError(f"`chroot {self.root} asterisk -F` failed (rc={proc.returncode}):\n{self._log_tail()}")
        end = time.monotonic() + 10.0
        pid = None
        while time.monotonic() < end:
            pid = _read_pid(stale)
            if pid and is_sandbox_asterisk(pid, self.root):
                break
            pid = None
            time.sleep(0.1)
        if not pid:
            raise SandboxError(f"Asterisk did not write its pid file within 10s:\n{self._log_tail()}")
        self._write_pid(pid)
        self._say(f"started {self.title} (pid {pid}) from {self.root}", lines)

    def _wait_ready(self, pid: int | None, ami: Settings, timeout: float) -> str:
        end = time.monotonic() + timeout
        # 1. fully booted (all modules loaded: app_queue's actions exist)
        last = ""
        while True:
            if pid and not is_sandbox_asterisk(pid, self.root):
                raise SandboxError(f"Asterisk (pid {pid}) exited during start-up:\n{self._log_tail()}")
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise SandboxError(f"Asterisk did not finish booting within {timeout:g}s ({last}):\n{self._log_tail()}")
            try:
                self.rx("core waitfullybooted", timeout=max(1.0, remaining))
                break
            except SandboxError as exc:
                last = str(exc)
                time.sleep(0.3)
        # 2. AMI answers a login
        remaining = max(1.0, end - time.monotonic())
        try:
            version = run_sync(wait_for_ami(ami, deadline_s=remaining))
        except AmiError as exc:
            raise SandboxError(f"Asterisk runs but AMI is not usable: {exc}\n{self._log_tail()}") from None
        # 3. the CLI answers too
        out = self.rx("core show version", timeout=max(1.0, end - time.monotonic()))
        if "Asterisk" not in out:
            raise SandboxError(f"unexpected `core show version` output: {out.strip()!r}")
        return version

    def down(self, timeout: float = STOP_TIMEOUT) -> list[str]:
        """Stop the sandbox Asterisk by its own pid. Returns what it did."""
        self._require_root()
        with self._lock():
            return self.carrier._down_locked(timeout) + self._down_locked(timeout)

    def _down_locked(self, timeout: float) -> list[str]:
        lines: list[str] = []
        pid = self.pid()
        if not pid:
            with contextlib.suppress(FileNotFoundError):
                self._pid_file.unlink()
            self._say(f"{self.title} is not running", lines)
            return lines
        with contextlib.suppress(SandboxError):
            self.rx("core stop now", timeout=10.0, check=False)
        if not self._wait_exit(pid, timeout):
            for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                if not is_sandbox_asterisk(pid, self.root):
                    break
                self._say(f"Asterisk (pid {pid}) still running: sending {sig.name}", lines)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                if self._wait_exit(pid, wait):
                    break
        if is_sandbox_asterisk(pid, self.root):
            raise SandboxError(f"Asterisk (pid {pid}) did not stop")
        with contextlib.suppress(FileNotFoundError):
            self._pid_file.unlink()
        self._say(f"stopped {self.title} (pid {pid})", lines)
        return lines

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        """Wait until the process is gone. ``pid_alive``, not ``is_sandbox_asterisk``:
        an exiting process loses /proc/<pid>/exe before it closes its sockets, so
        the identity check turns false while AMI's port is still bound."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
        return not pid_alive(pid)

    def restart(self, timeout: float = START_TIMEOUT) -> list[str]:
        return self.down() + self.up(timeout=timeout)

    def status(self, timeout: float = 5.0) -> SandboxStatus:
        st = SandboxStatus(root=self.root, provisioned=is_provisioned(self.root), running=False)
        if st.provisioned:
            st.package_version = read_marker(self.root).get("asterisk")
        st.pid = self.pid()
        st.running = st.pid is not None
        settings = effective_settings(self.settings)
        try:
            st.version = run_sync(_ping_or_error(settings, timeout))
            st.ami_reachable = True
        except AmiError as exc:
            st.error = str(exc)
        st.lines = [
            f"root: {self.root} ({'provisioned, asterisk ' + (st.package_version or '?') if st.provisioned else 'not provisioned'})",
            f"asterisk: {'running (pid %d)' % st.pid if st.running else 'not running'}",
            f"ami: {settings.ami_host}:{settings.ami_port} "
            + (f"reachable, login ok (user {settings.ami_user})" if st.ami_reachable else f"NOT reachable: {st.error}"),
        ]
        if st.version:
            st.lines.append(f"version: Asterisk {st.version}")
        return st

    # -- simulated phones ----------------------------------------------------

    def set_phone(self, extension: str, answer_delay: str | float | None = None,
                  talk_time: float | None = None, reset: bool = False) -> list[str]:
        """Set a simulated phone's behaviour in AstDB (``simphone/<ext>/...``)."""
        return run_sync(set_phone(self.ami_settings(), extension, answer_delay=answer_delay,
                                  talk_time=talk_time, reset=reset))


class Carrier(Sandbox):
    """The simulated carrier: a second Asterisk from the same root, configured
    from ``/etc/asterisk-carrier``. ``ctidesk call`` originates the caller here;
    it reaches the PBX as a SIP INVITE on the trunk (From and
    P-Asserted-Identity carry the caller), exactly what a carrier sends."""

    name = "carrier"
    title = "carrier Asterisk"
    etc_inner = sbconfig.CARRIER_ETC
    run_inner = "/var/run/asterisk-carrier"
    log_inner = "/var/log/asterisk-carrier"
    dirs_inner = ("/var/spool/asterisk-carrier", "/var/lib/asterisk-carrier", "/var/cache/asterisk-carrier")
    cli_args = ("-C", f"{sbconfig.CARRIER_ETC}/asterisk.conf")

    @property
    def ami_port(self) -> int:
        return sbconfig.carrier_ami_port(self.settings)

    @property
    def carrier(self) -> "Carrier":
        return self

    def render(self) -> sbconfig.WriteResult:
        files = sbconfig.render_carrier_config(self.settings, secret=ensure_secret(self.settings))
        return sbconfig.write_files(files, self.etc_dir)


async def _ping_or_error(settings: Settings, timeout: float) -> str:
    resp = await ami_action(settings, {"Action": "CoreSettings"}, timeout=timeout)
    if resp.get("Response") != "Success":
        raise AmiError(f"CoreSettings failed: {resp.get('Message')}")
    return resp.get("AsteriskVersion") or "?"


_EXT = re.compile(r"^[0-9]{2,16}$")


def _check_extension(extension: str) -> str:
    if not _EXT.match(extension or ""):
        raise ValueError(f"extension {extension!r}: use 2 to 16 digits")
    return extension


def _check_seconds(what: str, value, allow_never: bool = False) -> str:
    text = str(value).strip().lower()
    if allow_never and text == "never":
        return "never"
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{what} {value!r}: use seconds" + (" or 'never'" if allow_never else "")) from None
    if not 0 <= number <= 3600:
        raise ValueError(f"{what} {value!r}: must be between 0 and 3600 seconds")
    return f"{number:g}"


async def set_phone(settings: Settings, extension: str, *, answer_delay=None, talk_time=None,
                    reset: bool = False, timeout: float = 10.0) -> list[str]:
    """AstDB keys ``simphone/<ext>/answer_delay`` and ``.../talk_time`` via AMI DBPut/DBDelTree."""
    extension = _check_extension(extension)
    lines = []
    if reset:
        resp = await ami_action(settings, {"Action": "DBDelTree", "Family": "simphone", "Key": extension},
                                timeout=timeout)
        lines.append(f"phone {extension}: reset to the defaults ({resp.get('Message', resp.get('Response'))})")
    for key, value, never in (("answer_delay", answer_delay, True), ("talk_time", talk_time, False)):
        if value is None:
            continue
        val = _check_seconds(key.replace("_", " "), value, allow_never=never)
        resp = await ami_action(
            settings, {"Action": "DBPut", "Family": "simphone", "Key": f"{extension}/{key}", "Val": val},
            timeout=timeout)
        if resp.get("Response") != "Success":
            raise AmiError(f"DBPut simphone/{extension}/{key} failed: {resp.get('Message')}")
        lines.append(f"phone {extension}: {key} = {val}")
    if not lines:
        out = await ami_command(settings, f"database show simphone/{extension}", timeout=timeout)
        keys = [line.strip() for line in out.splitlines() if line.strip().startswith("/simphone/")]
        lines.append(f"phone {extension}: " + ("; ".join(" ".join(k.split()) for k in keys)
                                               or "no overrides (globals SIMPHONE_ANSWER_DELAY/SIMPHONE_TALK_TIME)"))
    return lines


__all__ = [
    "ProvisionError", "Sandbox", "SandboxError", "SandboxStatus", "chroot_path", "effective_settings",
    "ensure_secret", "run_sync", "set_phone", "ami_ping",
]
