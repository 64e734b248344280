"""Prompts: text per language, synthesised to 8 kHz mono 16-bit WAV with
espeak-ng, installed where Asterisk plays them.

Layout under Asterisk's sounds directory (``Settings.ivr_sounds_dir``, an
Asterisk path; ``Settings.host_path`` maps it to our side, i.e. into the
sandbox root): ``ctidesk/<lang>/<prompt>-<hash>.wav``, played as
``ctidesk/<lang>/<prompt>-<hash>`` (see :func:`sound_map` for why the hash).
Text read out at run time (product information, ticket status, reference
numbers) goes to ``ctidesk/tts/<hash>.wav``, cached
by content, so a second caller asking the same thing costs nothing.

A recorded file ``config/prompts/<lang>/<prompt>.wav`` overrides the
synthesised one (converted to the same format). ``build`` is idempotent: a
file named by what it is made from either exists or is made, so an unchanged
menu builds in milliseconds;
``ctidesk serve`` runs it at start. Every file is written to a temporary name
and renamed, so Asterisk never plays half a file.

espeak-ng and ffmpeg run as asyncio subprocesses: synthesising never blocks
the event loop that serves other callers.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# espeak-ng voice per language tag (zh-CN: Mandarin).
VOICES = {"zh-CN": "cmn", "zh": "cmn", "en": "en-us", "en-US": "en-us", "en-GB": "en"}
SUBDIR = "ctidesk"
_tts_locks: dict[str, asyncio.Lock] = {}


class PromptError(RuntimeError):
    """espeak-ng or ffmpeg is missing or failed."""


def voice_for(lang: str) -> str:
    return VOICES.get(lang) or VOICES.get(lang.split("-")[0]) or lang.split("-")[0]


def sounds_root(settings) -> Path:
    """Our-side path of Asterisk's sounds directory."""
    return settings.host_path(settings.ivr_sounds_dir)


def recorded_dir(settings) -> Path:
    return settings.ivr_prompts_dir


async def _run(*argv: str, stdin: bytes | None = None) -> None:
    if shutil.which(argv[0]) is None:
        raise PromptError(f"{argv[0]} is not installed (Debian: apt-get install {argv[0]})")
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE if stdin else None,
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise PromptError(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')[-300:]}")


async def _to_asterisk_wav(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp.wav")
    try:
        await _run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-ar", "8000", "-ac", "1",
                   "-sample_fmt", "s16", "-f", "wav", str(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


async def synthesise(text: str, lang: str, dest: Path) -> None:
    """``text`` spoken in ``lang`` as an Asterisk-ready WAV at ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    raw = dest.with_name(f".{dest.name}.{os.getpid()}.raw.wav")
    try:
        # text on stdin: caller-influenced text never becomes an argument
        await _run("espeak-ng", "-v", voice_for(lang), "-s", "175", "-w", str(raw), "--stdin",
                   stdin=text.encode("utf-8"))
        await _to_asterisk_wav(raw, dest)
    finally:
        raw.unlink(missing_ok=True)


@dataclass
class BuildReport:
    built: list
    kept: int
    recorded: int


def sound_map(menu, settings) -> dict:
    """``{(prompt, lang): (sound name, source)}`` for every prompt of ``menu``.

    The file name carries a hash of what it is made from (text and voice, or
    the recorded file's size and mtime): two menus (a test menu, the demo)
    never overwrite each other's prompts, a reload that changes a text makes a
    new file while calls in progress finish with the old one, and "is it
    built?" is one ``stat``."""
    rec_dir = recorded_dir(settings)
    out = {}
    for name, texts in menu.prompts.items():
        for lang in menu.languages:
            src = rec_dir / lang / f"{name}.wav" if rec_dir else None
            if src is not None and src.is_file():
                st = src.stat()
                key, source = f"recorded:{st.st_size}:{st.st_mtime_ns}", src
            elif lang in texts:
                key, source = f"tts:{voice_for(lang)}\n{texts[lang]}", texts[lang]
            else:
                continue
            digest = hashlib.sha256(key.encode()).hexdigest()[:12]
            out[(name, lang)] = (f"{SUBDIR}/{lang}/{name}-{digest}", source)
    return out


async def build(menu, settings, *, force: bool = False) -> BuildReport:
    """Install every prompt of ``menu`` in every language; only what is missing is made."""
    root = sounds_root(settings)
    jobs = []
    recorded = kept = 0
    for (name, lang), (sound, source) in sound_map(menu, settings).items():
        dest = root / f"{sound}.wav"
        if isinstance(source, Path):
            recorded += 1
        if dest.is_file() and not force:
            kept += 1
            continue
        jobs.append((sound, source, lang, dest))
    sem = asyncio.Semaphore(max(2, os.cpu_count() or 2))
    built = []

    async def one(sound, source, lang, dest):
        async with sem:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, Path):
                await _to_asterisk_wav(source, dest)
            else:
                await synthesise(source, lang, dest)
            built.append(sound)

    results = await asyncio.gather(*(one(*j) for j in jobs), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise PromptError(f"{len(errors)} prompt(s) failed: {errors[0]}")
    return BuildReport(sorted(built), kept, recorded)


async def say(settings, text: str, lang: str) -> str:
    """The sound name (for STREAM FILE) of ``text`` spoken in ``lang``, synthesised once."""
    digest = hashlib.sha256(f"{voice_for(lang)}\n{text}".encode()).hexdigest()[:32]
    dest = sounds_root(settings) / SUBDIR / "tts" / f"{digest}.wav"
    if not dest.is_file():
        lock = _tts_locks.setdefault(digest, asyncio.Lock())
        async with lock:
            if not dest.is_file():
                await synthesise(text, lang, dest)
        _tts_locks.pop(digest, None)
    return f"{SUBDIR}/tts/{digest}"
