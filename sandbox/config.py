"""Render the Asterisk configuration from the templates in ``config/asterisk/``.

Templates use ``@{name}`` placeholders (a :class:`string.Template` with its own
delimiter, so Asterisk's ``${VAR}`` syntax passes through untouched). A missing
placeholder value is an error, never a silent blank.

Two outputs:

* :func:`render_sandbox_config` — the complete set written into
  ``<sandbox root>/etc/asterisk`` on every ``ctidesk sandbox up``;
* :func:`render_site_snippets` — what a site includes into its own
  Asterisk/FreePBX (``ctidesk asterisk-config --out DIR``).

The sandbox's ``extensions.conf``/``queues.conf``/``manager.conf`` ``#include``
the very same ``ctidesk_*.conf`` snippets a site gets, so the sandbox exercises
what sites run.
"""
from __future__ import annotations

import ipaddress
import os
import re
import string
from dataclasses import dataclass
from pathlib import Path

from ctidesk.settings import PROJECT_ROOT, Settings

TEMPLATE_DIR = PROJECT_ROOT / "config" / "asterisk"
AGENTS_PJSIP = "ctidesk_pjsip_agents.conf"

DID = "4000"
DEFAULT_QUEUE = "support"
QUEUES = ("support", "sales", "operator")
DEFAULT_ANSWER_DELAY = 3
DEFAULT_TALK_TIME = 4
SITE_SECRET_PLACEHOLDER = "CHANGE-ME-to-a-long-random-secret"

# Real SIP in the sandbox, all on 127.0.0.1 (the ports are the sandbox's own;
# a site sets its own in its pjsip.conf/http.conf).
SIP_PORT = 5060          # PBX: desk SIP phones and the carrier trunk (UDP)
HTTP_PORT = 8088         # PBX: Asterisk's HTTP server (plain)
WSS_PORT = 8089          # PBX: TLS, the PJSIP websocket transport for browser softphones
RTP_RANGE = (20000, 20999)
CARRIER_SIP_PORT = 5070  # the simulated carrier's side of the trunk
CARRIER_RTP_RANGE = (21000, 21999)
CARRIER_ETC = "/etc/asterisk-carrier"
CALLER_CONTEXT = "ctidesk-caller"          # the PBX's own caller script (Local test calls)
CARRIER_CALLER_CONTEXT = "carrier-caller"  # the carrier's (SIP test calls)


def carrier_ami_port(settings: Settings) -> int:
    """The carrier's AMI: the port after the PBX's."""
    return int(settings.ami_port) + 1


# Files rendered into <root>/etc/asterisk, template name -> output name.
SANDBOX_FILES = {
    "asterisk.conf.in": "asterisk.conf",
    "logger.conf.in": "logger.conf",
    "modules.conf.in": "modules.conf",
    "manager.conf.in": "manager.conf",
    "ctidesk_manager.conf.in": "ctidesk_manager.conf",
    "queues.conf.in": "queues.conf",
    "ctidesk_queues.conf.in": "ctidesk_queues.conf",
    "extensions.conf.in": "extensions.conf",
    "ctidesk_extensions.conf.in": "ctidesk_extensions.conf",
    "musiconhold.conf.in": "musiconhold.conf",
    "pjsip.conf.in": "pjsip.conf",
    "ctidesk_pjsip.conf.in": "ctidesk_pjsip.conf",
    "http.conf.in": "http.conf",
    "rtp.conf.in": "rtp.conf",
    "features.conf.in": "features.conf",  # issue 11: AMI Atxfer needs an atxfer code
}
# The carrier loads the PBX's module list (what is safe on loopback here).
CARRIER_FILES = {"modules.conf.in": "modules.conf", **{f"carrier/{name}.in": name for name in (
    "asterisk.conf", "manager.conf", "logger.conf", "pjsip.conf", "rtp.conf", "extensions.conf",
    "musiconhold.conf")}}
# Files that hold the AMI secret or SIP credentials: written mode 0600.
SECRET_FILES = {"ctidesk_manager.conf", "manager.conf", AGENTS_PJSIP}

SITE_FILES = {
    "ctidesk_extensions.conf.in": "ctidesk_extensions.conf",
    "ctidesk_queues.conf.in": "ctidesk_queues.conf",
    "ctidesk_manager.conf.in": "ctidesk_manager.conf",
    "ctidesk_pjsip.conf.in": "ctidesk_pjsip.conf",
    "README.txt.in": "README.txt",
}


class ConfigRenderError(ValueError):
    """A value cannot be written into an Asterisk config file safely."""


class _ConfTemplate(string.Template):
    delimiter = "@"
    # Only the braced form @{name}; a bare "@" (Local/1001@agents) is literal.
    pattern = r"""
        @(?:
          (?P<escaped>(?!))                 |
          (?P<named>(?!))                   |
          \{(?P<braced>[a-z_][a-z0-9_]*)\}  |
          (?P<invalid>(?!))
        )
    """
    flags = re.VERBOSE


def render_template(text: str, values: dict) -> str:
    try:
        return _ConfTemplate(text).substitute(values)
    except KeyError as exc:
        raise ConfigRenderError(f"template placeholder {exc} has no value") from None


def _load(name: str, template_dir: Path) -> str:
    return (template_dir / name).read_text(encoding="utf-8")


_SAFE_WORD = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_word(what: str, value: str) -> str:
    if not _SAFE_WORD.match(value):
        raise ConfigRenderError(
            f"{what} {value!r} cannot go into an Asterisk config file "
            "(use letters, digits, '_', '.', '-')"
        )
    return value


def _conf_value(what: str, value: str) -> str:
    """A value for ``key = value``: no line breaks; ';' escaped (it starts a comment)."""
    if not value or any(c in value for c in "\r\n\0"):
        raise ConfigRenderError(f"{what} must be a non-empty single line")
    if value != value.strip():
        raise ConfigRenderError(f"{what} must not start or end with whitespace")
    return value.replace(";", "\\;")


def _agi_host(host: str) -> str:
    # A server bound to every address is reached over loopback.
    if host in ("", "0.0.0.0", "::", "*"):
        return "127.0.0.1"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return _check_word("agi_host", host)
    return f"[{ip}]" if ip.version == 6 else str(ip)


def template_values(
    settings: Settings,
    *,
    secret: str,
    answer_delay: int | float = DEFAULT_ANSWER_DELAY,
    talk_time: int | float = DEFAULT_TALK_TIME,
) -> dict[str, str]:
    return {
        "ami_port": str(int(settings.ami_port)),
        "ami_user": _check_word("ami_user", settings.ami_user),
        "ami_secret": _conf_value("the AMI secret", secret),
        "ami_permit": "127.0.0.1/255.255.255.255",
        "agi_host": _agi_host(settings.agi_host),
        "agi_port": str(int(settings.agi_port)),
        "answer_delay": f"{answer_delay:g}",
        "talk_time": f"{talk_time:g}",
        "did": DID,
        "default_queue": DEFAULT_QUEUE,
        "queues": ", ".join(QUEUES),
        "sip_port": str(SIP_PORT),
        "http_port": str(HTTP_PORT),
        "wss_port": str(WSS_PORT),
        "rtp_start": str(RTP_RANGE[0]),
        "rtp_end": str(RTP_RANGE[1]),
        "carrier_sip_port": str(CARRIER_SIP_PORT),
        "carrier_ami_port": str(carrier_ami_port(settings)),
        "carrier_rtp_start": str(CARRIER_RTP_RANGE[0]),
        "carrier_rtp_end": str(CARRIER_RTP_RANGE[1]),
        "media_address": _check_word("sip_media_address", settings.sip_media_address),
        "sip_realm": _check_word("sip_realm", settings.sip_realm),
        **_wrapup_values(settings.supervisor_config),
    }


def _caller_script(context: str, template_dir: Path) -> str:
    return render_template(_load("caller_script.conf.in", template_dir), {"caller_context": context})


def _wrapup_values(path: Path) -> dict[str, str]:
    """``wrapuptime`` per queue from the supervisor file's ``[wrapup]``
    (``settings.supervisor_config``, default ``config/supervisor.toml``): one
    source for the pause app_queue keeps between an agent's calls and the
    wrap-up time the wallboard shows (two copies drift)."""
    from supervisor.config import load as load_supervisor_config

    wrapup = load_supervisor_config(path).wrapup
    values = {"wrapup_default": str(round(float(wrapup.get("*", 0))))}
    for queue in QUEUES:
        secs = wrapup.get(queue)
        values[f"wrapup_{queue}"] = "" if secs is None else f"wrapuptime = {round(float(secs))}"
    return values


def render_sandbox_config(
    settings: Settings, *, secret: str, template_dir: Path = TEMPLATE_DIR, **kw
) -> dict[str, str]:
    """``{file name: content}`` for ``<root>/etc/asterisk``."""
    values = template_values(settings, secret=secret, **kw)
    values["caller_script"] = _caller_script(CALLER_CONTEXT, template_dir)
    return {out: render_template(_load(tpl, template_dir), values) for tpl, out in SANDBOX_FILES.items()}


def render_carrier_config(settings: Settings, *, secret: str, template_dir: Path = TEMPLATE_DIR) -> dict[str, str]:
    """``{file name: content}`` for the simulated carrier's ``<root>/etc/asterisk-carrier``."""
    values = template_values(settings, secret=secret)
    values["caller_script"] = _caller_script(CARRIER_CALLER_CONTEXT, template_dir)
    return {out: render_template(_load(tpl, template_dir), values) for tpl, out in CARRIER_FILES.items()}


def render_site_snippets(
    settings: Settings, *, template_dir: Path = TEMPLATE_DIR, secret: str = SITE_SECRET_PLACEHOLDER
) -> dict[str, str]:
    """``{file name: content}`` for a site's own Asterisk (placeholder secret)."""
    values = template_values(settings, secret=secret)
    return {out: render_template(_load(tpl, template_dir), values) for tpl, out in SITE_FILES.items()}


@dataclass
class WriteResult:
    changed: list[str]
    unchanged: list[str]


def write_files(files: dict[str, str], directory: Path) -> WriteResult:
    """Write ``files`` into ``directory``, touching only those whose content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed, unchanged = [], []
    for name, content in sorted(files.items()):
        path = directory / name
        mode = 0o600 if name in SECRET_FILES else 0o644
        try:
            current = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current == content:
            unchanged.append(name)
            if (path.stat().st_mode & 0o777) != mode:
                os.chmod(path, mode)
            continue
        tmp = path.with_name(f".{name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        changed.append(name)
    return WriteResult(changed=changed, unchanged=unchanged)
