"""Configuration: typed defaults, then ``config/ctidesk.toml``, then ``CTIDESK_*``.

One frozen object is built at start-up and handed to whoever needs it; nothing
reads the environment later. Every field can be overridden by an environment
variable named ``CTIDESK_`` plus the field name in upper case, e.g.
``CTIDESK_DATABASE_URL`` or ``CTIDESK_AMI_SECRET``; in the TOML file a
``[section] key`` is the field ``section_key`` (``[ami] port`` is ``ami_port``).

Why pydantic-settings: the fields carry real types and ranges (a port is an int
in 1..65535, ``recordings_compress`` is one of "", "mp3", "opus", a path is a
``Path`` with ``~`` expanded), so a bad value is refused once, at start, with
the setting and where it came from named (:class:`ConfigError`; the commands
print ``configuration: ...`` and exit non-zero), instead of surfacing as a
``ValueError`` deep in the AMI client or a silently ignored codec days later.
``Settings(...)`` and :meth:`Settings.with_` validate the same way but read
only their arguments (never the environment or the file): tests build settings
by hand, and only :func:`load_settings` looks outside the process.

Every configuration file has one setting naming it (``ivr_config``,
``sla_config``, ``calendar_config``, ``supervisor_config``), defaulting to the
file under ``config/``; the composition root passes the path on, so no module
reaches for a hard-coded default of its own.

The AMI secret is special: when neither the file nor the environment set it, the
secret the sandbox generated is used, so the embedded default needs no
configuration at all. That secret lives beside the sandbox's Asterisk root
(``~/.cache/ctidesk/asterisk-sid.state/ami.secret``), not in a state dir: there is
one sandbox Asterisk per machine, and two state dirs with two secrets would
take turns locking each other out. Secrets are excluded from ``repr``/``str``
and from validation error messages so they never reach a log line by accident.
"""
from __future__ import annotations

import contextvars
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict,
                               SettingsError)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "ctidesk.toml"
CONFIG_DIR = PROJECT_ROOT / "config"
ENV_PREFIX = "CTIDESK_"


def _default_state_dir() -> Path:
    return PROJECT_ROOT / "var"


def _expand(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser()


def _empty_is_none(value: Any) -> Any:
    """``CTIDESK_RECORDINGS_DIR=`` (empty) means "the default", as it always has."""
    return None if isinstance(value, str) and not value.strip() else value


# A path: "~" expanded. An optional path: empty means unset (the default applies).
FilePath = Annotated[Path, AfterValidator(_expand)]
OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none), AfterValidator(_expand)]
Port = Annotated[int, Field(ge=1, le=65535)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The configuration files a setting names (checked to exist by load_settings).
CONFIG_FILES = ("ivr_config", "sla_config", "calendar_config", "supervisor_config")
_SECRETS = frozenset({"ami_secret", "secret_key", "redis_url"})


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", env_prefix=ENV_PREFIX, validate_default=True,
        hide_input_in_errors=True,  # secrets must not reach a message; load_settings names values itself
    )

    state_dir: FilePath = Field(default_factory=_default_state_dir)
    database_url: str = ""  # empty: SQLite file in state_dir
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    ami_host: str = "127.0.0.1"
    ami_port: Port = 5038
    ami_user: str = "cti"
    ami_secret: str = Field(default="", repr=False)
    ami_ping_interval: float = Field(default=5.0, gt=0)
    ami_ping_timeout: float = Field(default=3.0, gt=0)
    ami_reconnect_max: float = Field(default=10.0, gt=0)
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(default=4573, ge=0, le=65535)  # 0: any free port (tests)
    recordings_dir: OptionalPath = None
    secret_key: str = Field(default="", repr=False)
    token_ttl_s: int = 12 * 3600
    # argon2id cost (accounts.security.use_settings): the library's defaults.
    password_hash_time_cost: int = Field(default=3, ge=1, le=64)
    password_hash_memory_kib: int = Field(default=65536, ge=1024, le=4 * 1024 * 1024)
    password_hash_parallelism: int = Field(default=4, ge=1, le=64)
    default_country_code: str = Field(default="86", pattern=r"^[0-9]{1,4}$")
    history_limit: int = Field(default=10, ge=0)
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
    log_level: LogLevel = "INFO"  # any case in the file or environment
    sandbox_root: OptionalPath = None  # default ~/.cache/ctidesk/asterisk-sid
    # Where Asterisk's file system is, seen from our process: paths Asterisk
    # writes (MixMonitor files, AGI RECORD FILE voicemails, prompts it plays)
    # are this prefix + the path Asterisk uses. Empty: the sandbox root (the
    # sandbox Asterisk runs chrooted there); "/" for an Asterisk on this host.
    asterisk_fs_root: OptionalPath = None
    # Recordings (issue 5): where MixMonitor writes (Asterisk's side of the path),
    # days to keep per kind (0 = forever), and how long a file must be still
    # before a WAV with an unfinished header counts as abandoned by its writer.
    recordings_spool: str = "/var/spool/asterisk/monitor"
    recordings_retention_full_days: int = Field(default=365, ge=0)
    recordings_retention_on_demand_days: int = Field(default=365, ge=0)
    recordings_retention_voicemail_days: int = Field(default=180, ge=0)
    recordings_settle_s: float = Field(default=5.0, ge=0)
    recordings_scan_interval_s: float = Field(default=30.0, gt=0)
    # "": keep WAVs; "mp3" or "opus": a verified ffmpeg copy replaces the WAV.
    recordings_compress: Literal["", "mp3", "opus"] = ""
    # Where ingested recordings are kept (recordings.storage, issue 13): "local"
    # is recordings_dir; "s3" a bucket (and key prefix) on an S3-compatible
    # store, endpoint empty for AWS itself. The keys are credentials: kept out
    # of repr and messages; empty uses boto3's own chain (environment, instance role).
    recordings_storage: Literal["local", "s3"] = "local"
    recordings_s3_endpoint: str = ""
    recordings_s3_bucket: str = ""
    recordings_s3_prefix: str = ""
    recordings_s3_region: str = ""
    recordings_s3_access_key: str = Field(default="", repr=False)
    recordings_s3_secret_key: str = Field(default="", repr=False)
    # IVR: the menu file (CTIDESK_IVR_CONFIG), recorded prompt overrides
    # (<dir>/<lang>/<prompt>.wav), and Asterisk-side paths: where Asterisk
    # plays sounds from and where AGI RECORD FILE writes voicemails.
    ivr_config: FilePath = CONFIG_DIR / "ivr.toml"
    ivr_prompts_dir: FilePath = CONFIG_DIR / "prompts"
    ivr_sounds_dir: str = "/usr/share/asterisk/sounds"
    ivr_voicemail_dir: str = "/var/spool/asterisk/ctidesk-voicemail"
    # The other configuration files, one setting each: ticket SLAs and callback
    # policy, the center's business calendar (SLAs and the IVR's hours "center"),
    # the supervisor's thresholds and reason codes (optional: built-in defaults).
    sla_config: FilePath = CONFIG_DIR / "sla.toml"
    calendar_config: FilePath = CONFIG_DIR / "calendar.toml"
    supervisor_config: FilePath = CONFIG_DIR / "supervisor.toml"
    # Several instances (issue 13, ctidesk.cluster): empty runs one instance as
    # before; set (redis://host:6379/0, unix:///run/redis.sock) the instances
    # elect a leader on this Redis (it owns AMI, FastAGI, the call writer, the
    # SLA scheduler) and fan desk and wallboard frames out through it. May hold
    # a password: kept out of repr and logs like the other secrets.
    redis_url: str = Field(default="", repr=False)
    cluster_lease_ttl_s: float = Field(default=3.0, ge=0.3, le=60)  # failover within about 4/3 of this

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir_default(cls, value):
        return _default_state_dir() if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level_upper(cls, value):
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("recordings_s3_endpoint")
    @classmethod
    def _s3_endpoint_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("an S3 endpoint is a URL: http://host:port or https://host")
        return value

    @field_validator("recordings_s3_bucket")
    @classmethod
    def _s3_bucket_needed(cls, value: str, info) -> str:
        value = value.strip()
        if info.data.get("recordings_storage") == "s3" and not value:
            raise ValueError("recordings_storage is 's3': name the bucket (recordings_s3_bucket)")
        if value and not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
            raise ValueError("a bucket name is 3-63 lower-case letters, digits, dots and hyphens")
        return value

    @field_validator("recordings_s3_prefix")
    @classmethod
    def _s3_prefix_clean(cls, value: str) -> str:
        value = value.strip().strip("/")
        if ".." in value.split("/") or "//" in value:
            raise ValueError("a key prefix is a path like 'site1/recordings' (no '..', no empty parts)")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: arguments > environment > TOML file > defaults. Outside
        # load_settings there are only the arguments: Settings() is the defaults.
        loading = _LOADING.get()
        return (init_settings,) if loading is None else (init_settings, *loading)

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
        """A copy with ``changes``, validated like the original (a port stays an
        int, a path a Path); raises :class:`ConfigError` naming a bad change."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(changes)
        token = _LOADING.set(None)  # only these values, never the environment
        try:
            return type(self)(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, lambda name: ("with_()", changes.get(name)))) from None
        finally:
            _LOADING.reset(token)


# The extra sources while load_settings builds a Settings (see settings_customise_sources).
_LOADING: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("ctidesk_settings_sources", default=None)


class _EnvSource(EnvSettingsSource):
    """``CTIDESK_*`` from the mapping :func:`load_settings` was given (``os.environ``
    unless a test passes its own): nothing else reads the environment."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key if self.case_sensitive else key.lower(): value for key, value in self._environ.items()}


class _TomlSource(PydanticBaseSettingsSource):
    """The TOML file, ``[section] key`` flattened to ``section_key``; a key that
    is no setting is left in, for ``extra="forbid"`` to refuse."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path
        self.values: dict[str, Any] = {}
        if not path.exists():
            return
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for key, value in data.items():
            if isinstance(value, dict):  # [ami] host = ... -> ami_host
                for sub, v in value.items():
                    self.values[f"{key}_{sub}"] = v
            else:
                self.values[key] = value

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def _shown(name: str, value: Any) -> str:
    field = Settings.model_fields.get(name)
    hidden = name in _SECRETS or (field is not None and field.repr is False)  # every repr=False field is a secret
    return "(hidden)" if hidden else repr(value)


def _explain(exc: ValidationError, origin) -> str:
    """One line per bad setting: its name, where it came from, the value, the rule."""
    lines = []
    for err in exc.errors(include_input=False, include_url=False):
        name = str(err["loc"][0]) if err["loc"] else "?"
        source, value = origin(name)
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown setting {name!r}")
        else:
            lines.append(f"setting {name!r} ({source}): cannot use {_shown(name, value)}: {err['msg']}")
    return "; ".join(lines)


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from defaults, the TOML file and the environment
    (``env``, when given, instead of ``os.environ``); any bad value, unknown key
    or missing configuration file is a :class:`ConfigError` naming the setting
    and its source."""
    env = os.environ if env is None else env
    path = Path(env.get("CTIDESK_CONFIG") or path or DEFAULT_CONFIG)
    toml = _TomlSource(Settings, path)
    env_source = _EnvSource(Settings, env)
    try:
        from_env = env_source()
    except SettingsError as exc:
        raise ConfigError(f"environment: {exc}") from None

    def origin(name: str) -> tuple[str, Any]:
        if name in from_env:
            return f"environment {ENV_PREFIX}{name.upper()}", from_env[name]
        if name in toml.values:
            return str(path), toml.values[name]
        return "default", Settings.model_fields[name].default if name in Settings.model_fields else None

    token = _LOADING.set((env_source, toml))
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin)) from None
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        _LOADING.reset(token)
    for name in CONFIG_FILES:
        source, _ = origin(name)
        file = getattr(settings, name)
        # A file named on purpose must exist; supervisor.toml's absence means its defaults.
        if not file.is_file() and (source != "default" or name != "supervisor_config"):
            raise ConfigError(f"setting {name!r} ({source}): no such file {str(file)!r}")
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
