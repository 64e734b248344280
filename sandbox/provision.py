"""Provision the sandbox Asterisk: a minimal Debian sid root made with debootstrap.

Asterisk is not packaged for the Debian release the host runs, but sid ships
Asterisk 22. The root is built once and cached (default
``~/.cache/ctidesk/asterisk-sid``, override with ``CTIDESK_SANDBOX_ROOT``);
Asterisk then runs from it with ``chroot`` and shares the host's loopback.

The build goes into ``<root>.partial`` and is renamed to ``<root>`` only once it
holds ``/usr/sbin/asterisk``; a marker file ``<root>/.ctidesk-provisioned``
records the Asterisk package version. A finished ``.partial`` left by an earlier
run (or made by hand with the same recipe) is adopted instead of rebuilt.

The mirror is read from the host's own apt sources; no registry host name is
written in this repository.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

from ctidesk.settings import Settings

MARKER = ".ctidesk-provisioned"
SUITE = "sid"
PACKAGES = ("asterisk", "asterisk-core-sounds-en-wav")
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
# debootstrap needs ~540 MB for this root; refuse early below this.
MIN_FREE_BYTES = 1024 * 1024 * 1024
DEBOOTSTRAP_TIMEOUT = 30 * 60

Log = Callable[[str], None]


class ProvisionError(RuntimeError):
    """The sandbox Asterisk root could not be provisioned; the message says why."""


def default_root(env: dict | None = None) -> Path:
    env = os.environ if env is None else env
    return Settings(sandbox_root=Path(env["CTIDESK_SANDBOX_ROOT"]) if env.get("CTIDESK_SANDBOX_ROOT")
                    else None).effective_sandbox_root


def partial_path(root: Path) -> Path:
    return root.with_name(root.name + ".partial")


def marker_path(root: Path) -> Path:
    return root / MARKER


def is_provisioned(root: Path) -> bool:
    return marker_path(root).is_file() and (root / "usr/sbin/asterisk").exists()


def read_marker(root: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = marker_path(root).read_text(encoding="utf-8")
    except OSError:
        return info
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    return info


def read_mirror(sources: Path = APT_SOURCES) -> str:
    """The first ``URIs:`` of the host's deb822 apt sources (as the recipe's awk)."""
    try:
        text = sources.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProvisionError(
            f"cannot read the host's apt sources {sources} to find a Debian mirror: {exc}"
        ) from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "URIs:":
            return parts[1]
    raise ProvisionError(f"no 'URIs:' line in {sources}; cannot find a Debian mirror")


def package_version(root: Path, package: str = "asterisk") -> str | None:
    """The installed version of ``package`` in ``root`` (from dpkg's status file)."""
    status = root / "var/lib/dpkg/status"
    try:
        text = status.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line[:1].isspace():
                continue
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        if fields.get("Package") == package and "installed" in fields.get("Status", "").split():
            if fields.get("Status", "").endswith(" installed"):
                return fields.get("Version")
    return None


def _complete(root: Path) -> bool:
    return (root / "usr/sbin/asterisk").exists() and package_version(root) is not None


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 1:
                    target = parts[1].replace("\\040", " ")
                    if target.startswith(prefix) or target == prefix[:-1]:
                        found.append(target)
    except OSError:
        pass
    return found


def _write_marker(root: Path, mirror: str | None = None) -> str:
    version = package_version(root) or "unknown"
    lines = [
        f"asterisk={version}",
        f"suite={SUITE}",
        f"provisioned={_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}",
    ]
    marker_path(root).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return version


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ProvisionError(
            "provisioning the sandbox Asterisk needs root (debootstrap and chroot); "
            f"running as uid {os.geteuid()}"
        )


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _ensure_debootstrap(log: Log) -> str:
    exe = shutil.which("debootstrap") or ("/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None)
    if exe:
        return exe
    log("debootstrap is missing: apt-get update && apt-get install -y debootstrap")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "debootstrap"]):
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProvisionError(f"{' '.join(cmd)} failed: {exc}") from None
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise ProvisionError(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{tail}")
    exe = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not Path(exe).exists():
        raise ProvisionError("debootstrap is still missing after apt-get install")
    return exe


def _classify_failure(log_text: str) -> str:
    low = log_text.lower()
    if "no space left on device" in low:
        return "the disk is full (No space left on device)"
    if "couldn't find these debs" in low or "unable to locate package" in low:
        return "asterisk is not installable from Debian sid today (package missing)"
    if ("depends:" in low or "unmet dependencies" in low or "broken packages" in low
            or "conflicts:" in low or "but it is not installable" in low):
        return "asterisk is not installable from Debian sid today (broken dependencies)"
    if ("failed getting release file" in low or "couldn't download" in low
            or "temporary failure resolving" in low or "could not resolve" in low
            or "connection refused" in low or "network is unreachable" in low):
        return "the Debian mirror could not be reached"
    if "release signed by unknown key" in low or "gpg" in low and "invalid" in low:
        return "the sid Release file could not be verified (keyring)"
    return "debootstrap failed"


def build(partial: Path, mirror: str, log: Log) -> None:
    """Run debootstrap into ``partial`` (which must not exist)."""
    exe = _ensure_debootstrap(log)
    parent = partial.parent
    parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(parent).free
    if free < MIN_FREE_BYTES:
        raise ProvisionError(
            f"the disk is full: {free // (1024 * 1024)} MB free under {parent}, "
            f"the Asterisk root needs about 600 MB"
        )
    cmd = [exe, "--variant=minbase", "--include=" + ",".join(PACKAGES), SUITE, str(partial), mirror]
    log(f"building the Asterisk root (about a minute): debootstrap {SUITE} -> {partial}")
    out_log = parent / (partial.name + ".log")
    try:
        with open(out_log, "w", encoding="utf-8") as fh:
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=DEBOOTSTRAP_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProvisionError(
            f"debootstrap did not finish in {DEBOOTSTRAP_TIMEOUT}s; log: {out_log}\n{_tail(out_log)}"
        ) from None
    except OSError as exc:
        raise ProvisionError(f"cannot run debootstrap: {exc}") from None
    if proc.returncode != 0:
        tail = _tail(out_log)
        inner = _tail(partial / "debootstrap" / "debootstrap.log", 20)
        text = tail + "\n" + inner
        cause = _classify_failure(text)
        raise ProvisionError(
            f"{cause}: debootstrap exited with rc={proc.returncode} (log: {out_log}). Last lines:\n"
            + (inner or tail)
        )
    if not (partial / "usr/sbin/asterisk").exists():
        raise ProvisionError(
            f"asterisk is not installable from Debian sid today: debootstrap succeeded but "
            f"{partial}/usr/sbin/asterisk is missing. Last lines of {out_log}:\n{_tail(out_log)}"
        )


def provision(root: Path | None = None, *, log: Log = print, mirror: str | None = None) -> Path:
    """Make sure the cached Asterisk root exists; build it if needed. Returns the root.

    Raises :class:`ProvisionError` naming the cause when it cannot.
    """
    root = Path(root) if root is not None else default_root()
    if is_provisioned(root):
        return root
    _require_root()
    if root.exists():
        if _complete(root):
            version = _write_marker(root)
            log(f"adopted the existing Asterisk root {root} (asterisk {version})")
            return root
        raise ProvisionError(
            f"{root} exists but holds no installed asterisk; remove it to rebuild"
        )
    partial = partial_path(root)
    if partial.exists():
        if _complete(partial):
            log(f"adopting the finished build {partial}")
        else:
            mounts = _mounts_under(partial)
            if mounts:
                raise ProvisionError(
                    f"an unfinished build {partial} has file systems mounted under it "
                    f"({', '.join(mounts)}); unmount them and remove it"
                )
            log(f"removing the unfinished build {partial}")
            shutil.rmtree(partial)
    if not partial.exists():
        build(partial, mirror or read_mirror(), log)
    if not (partial / "usr/sbin/asterisk").exists():
        raise ProvisionError(f"{partial}/usr/sbin/asterisk is missing after the build")
    try:
        os.rename(partial, root)
    except OSError as exc:
        raise ProvisionError(f"cannot rename {partial} to {root}: {exc}") from None
    try:
        version = _write_marker(root)
    except OSError as exc:
        raise ProvisionError(f"cannot write the marker in {root}: {exc}") from None
    log(f"provisioned {root} (asterisk {version})")
    return root
