"""Prompts: synthesised to 8 kHz mono 16-bit WAV with espeak-ng, installed under
Asterisk's sounds dir, a recorded file overrides, a second build makes nothing."""
from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

from ivr import prompts
from ivr.config import load_menu
from tests.factories import settings_for
from tests.unit.test_ivr_config import BASE
from tests.unit.test_ivr_services import write_wav



def _format(path: Path) -> tuple:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


async def test_build_synthesises_installs_overrides_and_caches(tmp_path):
    assert shutil.which("espeak-ng") and shutil.which("ffmpeg"), "espeak-ng/ffmpeg missing: run ./dev"
    (tmp_path / "ast" / "usr/share/asterisk/sounds").mkdir(parents=True)
    recorded = tmp_path / "recorded"
    settings = settings_for(tmp_path, asterisk_fs_root=tmp_path / "ast", ivr_prompts_dir=recorded)
    menu_path = tmp_path / "ivr.toml"
    menu_path.write_text(BASE, encoding="utf-8")
    menu = load_menu(menu_path)
    report = await prompts.build(menu, settings)
    names = prompts.sound_map(menu, settings)
    assert sorted(names) == [("hi", "en"), ("hi", "zh-CN")] and len(report.built) == 2
    root = prompts.sounds_root(settings)
    for sound, _source in names.values():
        rate, channels, width, frames = _format(root / f"{sound}.wav")
        assert (rate, channels, width) == (8000, 1, 2) and frames > 2000  # real speech, not an empty file
        assert sound.startswith("ctidesk/")
    again = await prompts.build(menu, settings)
    assert again.built == [] and again.kept == 2
    # a recording for en replaces the synthesised English prompt under a new name
    write_wav(recorded / "en" / "hi.wav", 1.5)
    report = await prompts.build(menu, settings)
    assert report.recorded == 1 and len(report.built) == 1
    sound = prompts.sound_map(menu, settings)[("hi", "en")][0]
    assert sound != names[("hi", "en")][0]
    assert _format(root / f"{sound}.wav")[3] == 12000  # 1.5 s at 8 kHz: the recording, converted


async def test_text_to_speech_at_run_time_is_cached(tmp_path):
    (tmp_path / "ast" / "usr/share/asterisk/sounds").mkdir(parents=True)
    settings = settings_for(tmp_path, asterisk_fs_root=tmp_path / "ast")
    first = await prompts.say(settings, "工单12，当前状态：处理中。", "zh-CN")
    path = prompts.sounds_root(settings) / f"{first}.wav"
    mtime = path.stat().st_mtime_ns
    assert await prompts.say(settings, "工单12，当前状态：处理中。", "zh-CN") == first
    assert path.stat().st_mtime_ns == mtime
    assert await prompts.say(settings, "Ticket 12 is in progress.", "en") != first


async def test_a_missing_tool_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(prompts.shutil, "which", lambda name: None)
    with pytest.raises(prompts.PromptError, match="espeak-ng is not installed"):
        await prompts.synthesise("x", "en", tmp_path / "x.wav")
