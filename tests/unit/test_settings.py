"""Settings (issue 12.4): typed fields from defaults < config/ctidesk.toml <
CTIDESK_*, refused at start with the setting and its source named."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ctidesk.settings import PROJECT_ROOT, ConfigError, Settings, load_settings


@pytest.fixture
def base_env(tmp_path) -> dict:
    """No config file, a private state dir and sandbox root: nothing from this machine."""
    return {"CTIDESK_CONFIG": str(tmp_path / "none.toml"), "CTIDESK_STATE_DIR": str(tmp_path / "state"),
            "CTIDESK_SANDBOX_ROOT": str(tmp_path / "sandbox")}


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ctidesk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(env: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    return str(info.value)


# ------------------------------------------------------------------ sources and types

def test_defaults_without_file_or_environment(base_env):
    s = load_settings(env=base_env)
    assert (s.http_port, s.ami_port, s.agi_port, s.ami_user) == (8080, 5038, 4573, "cti")
    assert s.ami_ping_interval == 5.0 and s.recordings_compress == "" and s.log_level == "INFO"
    assert s.recordings_dir is None and s.sandbox_root == Path(base_env["CTIDESK_SANDBOX_ROOT"])
    assert s.ivr_config == PROJECT_ROOT / "config" / "ivr.toml"
    assert s.sla_config == PROJECT_ROOT / "config" / "sla.toml"
    assert s.calendar_config == PROJECT_ROOT / "config" / "calendar.toml"
    assert s.supervisor_config == PROJECT_ROOT / "config" / "supervisor.toml"
    assert s.secret_key  # generated once, kept in the state dir
    assert (Path(base_env["CTIDESK_STATE_DIR"]) / "secret_key").read_text() == s.secret_key


def test_environment_values_arrive_typed(base_env, tmp_path):
    home = Path.home()
    s = load_settings(env={**base_env, "CTIDESK_HTTP_PORT": "9090", "CTIDESK_AMI_PING_INTERVAL": "2.5",
                           "CTIDESK_RECORDINGS_RETENTION_FULL_DAYS": "30", "CTIDESK_LOG_LEVEL": "debug",
                           "CTIDESK_RECORDINGS_COMPRESS": "opus", "CTIDESK_RECORDINGS_DIR": "~/recs",
                           "CTIDESK_ASTERISK_FS_ROOT": "", "CTIDESK_AGI_PORT": "0"})
    assert s.http_port == 9090 and type(s.http_port) is int
    assert s.ami_ping_interval == 2.5 and type(s.ami_ping_interval) is float
    assert s.recordings_retention_full_days == 30 and type(s.recordings_retention_full_days) is int
    assert s.log_level == "DEBUG"
    assert s.recordings_compress == "opus"
    assert s.recordings_dir == home / "recs"  # "~" expanded, a Path
    assert s.asterisk_fs_root is None  # empty: the default (the sandbox root)
    assert s.agi_port == 0  # any free port
    assert isinstance(s.state_dir, Path)


def test_toml_sections_flatten_and_the_environment_wins(base_env, tmp_path):
    path = write_toml(tmp_path, 'default_country_code = "44"\n[http]\nport = 8181\nhost = "0.0.0.0"\n'
                                '[ami]\nport = 6038\nping_timeout = 1.5\n[recordings]\ncompress = "mp3"\n')
    env = {**base_env, "CTIDESK_CONFIG": str(path)}
    s = load_settings(env=env)
    assert (s.http_port, s.http_host, s.ami_port, s.ami_ping_timeout) == (8181, "0.0.0.0", 6038, 1.5)
    assert s.default_country_code == "44" and s.recordings_compress == "mp3"
    assert s.ami_user == "cti"  # neither file nor environment: the default
    s = load_settings(env={**env, "CTIDESK_HTTP_PORT": "8282", "CTIDESK_RECORDINGS_COMPRESS": ""})
    assert s.http_port == 8282 and s.ami_port == 6038 and s.recordings_compress == ""


def test_the_path_argument_names_the_file_unless_ctidesk_config_does(base_env, tmp_path):
    path = write_toml(tmp_path, "[http]\nport = 8383\n")
    env = {k: v for k, v in base_env.items() if k != "CTIDESK_CONFIG"}
    assert load_settings(path, env=env).http_port == 8383
    assert load_settings(path, env={**env, "CTIDESK_CONFIG": str(tmp_path / "none.toml")}).http_port == 8080


def test_an_injected_environment_is_the_only_one_read(base_env, monkeypatch):
    monkeypatch.setenv("CTIDESK_HTTP_PORT", "7070")
    monkeypatch.setenv("CTIDESK_AMI_USER", "from-os-environ")
    s = load_settings(env=base_env)
    assert s.http_port == 8080 and s.ami_user == "cti"
    assert Settings().http_port == 8080  # Settings() is the defaults: no environment either


def test_relative_state_dir_is_under_the_project(base_env, tmp_path):
    s = load_settings(env={**base_env, "CTIDESK_STATE_DIR": "var"})
    assert s.state_dir == PROJECT_ROOT / "var"


def test_sandbox_secret_fills_an_empty_ami_secret(base_env, tmp_path):
    secret_file = Settings(sandbox_root=tmp_path / "sandbox").sandbox_secret_file
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text("from-the-sandbox\n")
    assert load_settings(env=base_env).ami_secret == "from-the-sandbox"
    assert load_settings(env={**base_env, "CTIDESK_AMI_SECRET": "mine"}).ami_secret == "mine"


# ------------------------------------------------------------------ validation at start

@pytest.mark.parametrize("name,value,rule", [
    ("HTTP_PORT", "abc", "valid integer"),
    ("HTTP_PORT", "0", "greater than or equal to 1"),
    ("AMI_PORT", "65536", "less than or equal to 65535"),
    ("AMI_PING_TIMEOUT", "-1", "greater than 0"),
    ("RECORDINGS_COMPRESS", "zip", "'mp3' or 'opus'"),
    ("LOG_LEVEL", "chatty", "'INFO'"),
    ("DEFAULT_COUNTRY_CODE", "+86", "pattern"),
    ("RECORDINGS_RETENTION_VOICEMAIL_DAYS", "-5", "greater than or equal to 0"),
])
def test_a_bad_environment_value_names_the_setting_and_the_variable(base_env, name, value, rule):
    message = config_error({**base_env, f"CTIDESK_{name}": value})
    assert f"setting {name.lower()!r}" in message
    assert f"environment CTIDESK_{name}" in message
    assert repr(value) in message and rule in message


def test_a_bad_file_value_names_the_setting_and_the_file(base_env, tmp_path):
    path = write_toml(tmp_path, "[http]\nport = 99999\n[recordings]\ncompress = \"zip\"\n")
    message = config_error({**base_env, "CTIDESK_CONFIG": str(path)})
    assert f"setting 'http_port' ({path}): cannot use 99999" in message
    assert f"setting 'recordings_compress' ({path}): cannot use 'zip'" in message


def test_an_unknown_key_in_the_file_is_refused(base_env, tmp_path):
    path = write_toml(tmp_path, "[http]\nport = 8080\nprot = 1\n\n[amy]\nhost = \"x\"\n")
    message = config_error({**base_env, "CTIDESK_CONFIG": str(path)})
    assert f"{path}: unknown setting 'http_prot'" in message
    assert f"{path}: unknown setting 'amy_host'" in message


def test_a_file_that_is_not_toml_is_refused(base_env, tmp_path):
    path = write_toml(tmp_path, "[http\nport = 1\n")
    assert config_error({**base_env, "CTIDESK_CONFIG": str(path)}).startswith(f"{path}: ")


@pytest.mark.parametrize("name", ["ivr_config", "sla_config", "calendar_config", "supervisor_config"])
def test_a_missing_config_file_named_by_a_setting_is_refused(base_env, tmp_path, name):
    missing = tmp_path / "nope" / f"{name}.toml"
    message = config_error({**base_env, f"CTIDESK_{name.upper()}": str(missing)})
    assert message == f"setting {name!r} (environment CTIDESK_{name.upper()}): no such file {str(missing)!r}"
    path = write_toml(tmp_path, f'{name} = "{missing}"\n')
    message = config_error({**base_env, "CTIDESK_CONFIG": str(path)})
    assert message == f"setting {name!r} ({path}): no such file {str(missing)!r}"


def test_the_configuration_files_are_settings(base_env, tmp_path):
    sla = tmp_path / "sla.toml"
    sla.write_text("", encoding="utf-8")
    s = load_settings(env={**base_env, "CTIDESK_SLA_CONFIG": str(sla)})
    assert s.sla_config == sla and s.calendar_config == PROJECT_ROOT / "config" / "calendar.toml"


def test_a_command_exits_with_the_configuration_error_not_a_traceback(monkeypatch):
    from ctidesk.cli import main

    result = CliRunner().invoke(main, ["serve"], env={"CTIDESK_HTTP_PORT": "abc"})
    assert result.exit_code != 0
    assert "configuration: setting 'http_port' (environment CTIDESK_HTTP_PORT)" in result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, ConfigError)


# ------------------------------------------------------------------ secrets

def test_secrets_are_not_in_repr_str_or_errors(base_env, tmp_path):
    path = write_toml(tmp_path, '[ami]\nsecret = "ami-s3cret-value"\n')
    s = load_settings(env={**base_env, "CTIDESK_CONFIG": str(path), "CTIDESK_SECRET_KEY": "signing-s3cret-value"})
    assert s.ami_secret == "ami-s3cret-value" and s.secret_key == "signing-s3cret-value"
    for text in (repr(s), str(s), f"{s}", repr(s.with_(http_port=1))):
        assert "s3cret" not in text
        assert "ami_secret" not in text and "secret_key" not in text
    assert "ami_user='cti'" in repr(s)  # the others are there
    with pytest.raises(ConfigError) as info:
        s.with_(ami_secret=["ami-s3cret-value"])
    assert "ami_secret" in str(info.value) and "s3cret" not in str(info.value) and "(hidden)" in str(info.value)


# ------------------------------------------------------------------ with_

def test_with_validates_and_keeps_types(tmp_path):
    s = Settings()
    t = s.with_(http_port="8443", state_dir=str(tmp_path), recordings_dir="~/r", ami_ping_interval=2)
    assert t.http_port == 8443 and type(t.http_port) is int
    assert t.state_dir == tmp_path and isinstance(t.state_dir, Path)
    assert t.recordings_dir == Path.home() / "r"
    assert t.ami_ping_interval == 2.0 and type(t.ami_ping_interval) is float
    assert s.http_port == 8080  # a copy: the original is unchanged
    for bad in ({"http_port": "x"}, {"recordings_compress": "zip"}, {"no_such_setting": 1}):
        with pytest.raises(ConfigError, match=re.escape(next(iter(bad)))):
            s.with_(**bad)


def test_settings_are_frozen():
    s = Settings()
    with pytest.raises(ValueError):
        s.http_port = 1
    assert s == Settings() and hash(s) == hash(Settings())


# ------------------------------------------------------------------ the files reach their users

def test_the_sla_policy_comes_from_the_settings_files(tmp_path):
    from tests.unit.test_sla import CALENDAR_TOML, POLICY_TOML
    from tickets import sla

    (tmp_path / "calendar.toml").write_text(CALENDAR_TOML, encoding="utf-8")
    (tmp_path / "sla.toml").write_text(POLICY_TOML.replace('respond_within = "4h"', 'respond_within = "7h"'),
                                       encoding="utf-8")
    try:
        sla.use_settings(Settings(sla_config=tmp_path / "sla.toml", calendar_config=tmp_path / "calendar.toml"))
        assert sla.default_policy().levels["standard"].respond_within == sla.parse_span("7h")
        sla.use_settings(Settings())
        assert sla.default_policy().levels["standard"].respond_within == sla.parse_span("4h")
    finally:
        sla.use_settings(None)
