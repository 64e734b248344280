"""Configuration: typed defaults, then ``config/ctidesk.toml``, then ``CTIDESK_*``.

One frozen object is built at start-up and handed to whoever needs it; nothing
reads the environment later. Every field can be overridden by an environment
variable named ``CTIDESK_`` plus the field name in upper case, e.g.
``CTIDESK_DATABASE_URL`` or ``CTIDESK_AMI_SECRET``.

The AMI secret is special: when neither the file nor the environment set it, the
secret the sandbox generated is used, so the embedded default needs no
configuration at all. That secret lives beside the sandbox's Asterisk root
(``~/.cache/ctidesk/asterisk-sid.state/ami.secret``), not in a state dir: there is
one sandbox Asterisk per machine, and two state dirs with two secrets would
take turns locking each other out. Secrets are excluded from
``repr`` so they never reach a log line by accident.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "ctidesk.toml"


def _default_state_dir() -> Path:
    return PROJECT_ROOT / "var"


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=_default_state_dir)
    database_url: str = ""  # empty: SQLite file in state_dir
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "cti"
    ami_secret: str = field(default="", repr=False)
    ami_ping_interval: float = 5.0
    ami_ping_timeout: float = 3.0
    ami_reconnect_max: float = 10.0
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    recordings_dir: Path | None = None
    secret_key: str = field(default="", repr=False)
    token_ttl_s: int = 12 * 3600
    default_country_code: str = "86"
    history_limit: int = 10
    # The member interface an agent's extension maps to in Asterisk.
    agent_interface_template: str = "Local/{extension}@agents/n"
    agent_state_interface_template: str = "Local/{extension}@agents"
    # Agents' real phones (issue 11): a PJSIP endpoint per agent whose phone is
    # "sip" (a desk phone) or "webrtc" (the desk's softphone), named by the
    # extension; the queue member interface is then PJSIP/<extension>.
    sip_interface_template: str = "PJSIP/{extension}"
    sip_realm: str = "ctidesk"
    sip_media_address: str = "127.0.0.1"   # where Asterisk binds RTP for agents' phones
    # Where the desk's softphone registers (Asterisk's PJSIP WSS transport).
    sip_wss_url: str = "wss://127.0.0.1:8089/ws"
    log_level: str = "INFO"
    sandbox_root: Path | None = None  # default ~/.cache/ctidesk/asterisk-sid
    # Where Asterisk's file system is, seen from our process: paths Asterisk
    # writes (MixMonitor files, AGI RECORD FILE voicemails, prompts it plays)
    # are this prefix + the path Asterisk uses. Empty: the sandbox root (the
    # sandbox Asterisk runs chrooted there); "/" for an Asterisk on this host.
    asterisk_fs_root: Path | None = None
    # Recordings (issue 5): where MixMonitor writes (Asterisk's side of the path),
    # days to keep per kind (0 = forever), and how long a file must be still
    # before a WAV with an unfinished header counts as abandoned by its writer.
    recordings_spool: str = "/var/spool/asterisk/monitor"
    recordings_retention_full_days: int = 365
    recordings_retention_on_demand_days: int = 365
    recordings_retention_voicemail_days: int = 180
    recordings_settle_s: float = 5.0
    recordings_scan_interval_s: float = 30.0
    recordings_compress: str = ""  # "", "mp3" or "opus": a verified ffmpeg copy replaces the WAV
    # IVR: the menu file (CTIDESK_IVR_CONFIG), recorded prompt overrides
    # (<dir>/<lang>/<prompt>.wav), and Asterisk-side paths: where Asterisk
    # plays sounds from and where AGI RECORD FILE writes voicemails.
    ivr_config: Path = field(default_factory=lambda: PROJECT_ROOT / "config" / "ivr.toml")
    ivr_prompts_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "config" / "prompts")
    ivr_sounds_dir: str = "/usr/share/asterisk/sounds"
    ivr_voicemail_dir: str = "/var/spool/asterisk/ctidesk-voicemail"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.state_dir / 'ctidesk.db'}"

    @property
    def effective_recordings_dir(self) -> Path:
        return self.recordings_dir or (self.state_dir / "recordings")

    @property
    def effective_sandbox_root(self) -> Path:
        return (self.sandbox_root or Path.home() / ".cache" / "ctidesk" / "asterisk-sid").expanduser().absolute()

    @property
    def sandbox_state_dir(self) -> Path:
        """The sandbox's pid, lock and secret: one per machine, like the root."""
        root = self.effective_sandbox_root
        return root.with_name(root.name + ".state")

    @property
    def sandbox_secret_file(self) -> Path:
        return self.sandbox_state_dir / "ami.secret"

    @property
    def effective_asterisk_fs_root(self) -> Path:
        return (self.asterisk_fs_root or self.effective_sandbox_root).expanduser().absolute()

    def host_path(self, asterisk_path: str) -> Path:
        """The path on our side of a file Asterisk reads or writes at ``asterisk_path``."""
        return self.effective_asterisk_fs_root / asterisk_path.lstrip("/")

    def agent_interface(self, extension: str) -> str:
        return self.agent_interface_template.format(extension=extension)

    def agent_state_interface(self, extension: str) -> str:
        return self.agent_state_interface_template.format(extension=extension)

    def with_(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


def _coerce(name: str, typ, raw):
    typ = str(typ)
    try:
        if "Path" in typ:
            return Path(raw) if raw not in (None, "") else None
        if typ.startswith("int"):
            return int(raw)
        if typ.startswith("float"):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r} ({exc})") from None


def load_settings(path: Path | str | None = None, env: dict | None = None) -> Settings:
    """Build the settings from defaults, the TOML file and the environment."""
    env = os.environ if env is None else env
    path = Path(env.get("CTIDESK_CONFIG") or path or DEFAULT_CONFIG)
    values: dict = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        flat: dict = {}
        for key, value in data.items():
            if isinstance(value, dict):  # [ami] host = ... -> ami_host
                for sub, v in value.items():
                    flat[f"{key}_{sub}"] = v
            else:
                flat[key] = value
        values.update(flat)
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s): {', '.join(unknown)}")
    for name in known:
        raw = env.get(f"CTIDESK_{name.upper()}")
        if raw is not None:
            values[name] = raw
    kwargs = {name: _coerce(name, known[name].type, v) for name, v in values.items()}
    if kwargs.get("state_dir") is None:
        kwargs.pop("state_dir", None)
    settings = Settings(**kwargs)
    if not settings.state_dir.is_absolute():
        settings = settings.with_(state_dir=PROJECT_ROOT / settings.state_dir)
    if not settings.ami_secret and settings.sandbox_secret_file.exists():
        settings = settings.with_(ami_secret=settings.sandbox_secret_file.read_text().strip())
    if not settings.secret_key:
        settings = settings.with_(secret_key=_persistent_secret_key(settings.state_dir))
    return settings


def settings_for_cli() -> Settings:
    """:func:`load_settings` for a command: a bad configuration exits with its reason."""
    import click

    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def _persistent_secret_key(state_dir: Path) -> str:
    """A per-installation token signing key, generated once and kept private."""
    import secrets

    key_file = state_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
