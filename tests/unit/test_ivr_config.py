"""Menu validation: every problem named with its file and key; ``ctidesk ivr check|show``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ivr.agi import MenuSource
from ivr.config import MenuError, check_menu, load_menu, tree_lines

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "config" / "ivr.toml"

BASE = '''
[ivr]
start = "welcome"
languages = ["zh-CN", "en"]
hours = "office"
fallback = "op"
[ivr.intents]
complaint = "complaint"

[hours.office]
timezone = "Asia/Shanghai"
[hours.office.weekly]
mon = ["09:00-18:00"]

[queues.support]
[queues.operator]

[prompts.hi]
"zh-CN" = "您好"
en = "Hello"

[nodes.welcome]
type = "hours"
open = "main"
closed = "vm"

[nodes.main]
type = "menu"
prompt = "hi"
[nodes.main.choices]
"1" = "sup"
"0" = "op"

[nodes.vm]
type = "voicemail"
prompt = "hi"
intent = "complaint"
next = "bye"

[nodes.sup]
type = "queue"
queue = "support"

[nodes.op]
type = "queue"
queue = "operator"

[nodes.bye]
type = "hangup"
'''


def check(tmp_path: Path, text: str, recorded_dir: Path | None = None):
    path = tmp_path / "ivr.toml"
    path.write_text(text, encoding="utf-8")
    menu, problems = check_menu(path, recorded_dir=recorded_dir)
    by_key: dict = {}
    for p in problems:  # every message about a key, joined
        by_key[(p.key, p.severity)] = (by_key.get((p.key, p.severity), "") + " | " + p.message).lstrip(" |")
    return menu, by_key, path


def refused(tmp_path: Path, text: str) -> dict:
    """The problems (as :func:`check` gives them) of a menu that does not load."""
    menu, problems, _ = check(tmp_path, text)
    assert menu is None
    return problems


def assert_errors(tmp_path: Path, text: str, errors: dict[str, str]) -> None:
    """The menu ``text`` does not load, and the errors of each key of ``errors`` say its words."""
    problems = refused(tmp_path, text)
    for key, words in errors.items():
        assert words in problems[(key, "error")], problems


def test_the_demo_and_the_base_menus_are_valid(tmp_path):
    menu, problems = check_menu(DEMO)
    assert problems == [] and menu.start == "welcome"
    menu, problems, _ = check(tmp_path, BASE)
    assert problems == {} and set(menu.nodes) == {"welcome", "main", "vm", "sup", "op", "bye"}


def test_unknown_target_names_the_file_and_key(tmp_path):
    menu, problems, path = check(tmp_path, BASE.replace('"1" = "sup"', '"1" = "nowhere"'))
    assert menu is None
    assert "unknown target 'nowhere'" in problems[('nodes.main.choices."1"', "error")]
    (p,) = [x for x in check_menu(path)[1] if x.severity == "error"]
    assert p.file == str(path) and str(p).startswith(f"{path}: nodes.main.choices.\"1\": error:")


def test_unreachable_node_is_a_warning_not_an_error(tmp_path):
    menu, problems, _ = check(tmp_path, BASE + '\n[nodes.orphan]\ntype = "hangup"\n')
    assert menu is not None
    assert "unreachable" in problems[("nodes.orphan", "warning")]


def test_loop_with_no_exit(tmp_path):
    text = BASE.replace('"1" = "sup"\n"0" = "op"', '"1" = "again"').replace(
        "[nodes.sup]", '[nodes.again]\ntype = "menu"\nprompt = "hi"\nchoices = { "1" = "main" }\n\n[nodes.sup]')
    assert_errors(tmp_path, text, {"nodes.main": "loop with no exit", "nodes.again": "loop with no exit"})


def test_a_loop_that_never_waits_for_the_caller(tmp_path):
    text = BASE.replace('open = "main"', 'open = "p1"') + '''
[nodes.p1]
type = "play"
prompt = "hi"
next = "welcome"
'''
    assert_errors(tmp_path, text, {"nodes.p1": "never waits for the caller: p1 -> welcome -> p1"})


def test_missing_prompt_and_missing_language(tmp_path):
    text = BASE.replace('prompt = "hi"\n[nodes.main.choices]', 'prompt = "menu"\n[nodes.main.choices]').replace(
        'en = "Hello"\n', '')
    assert_errors(tmp_path, text, {"nodes.main.prompts": "unknown prompt 'menu'", "prompts.hi": "no text for en"})


def test_a_recorded_file_stands_in_for_a_missing_text(tmp_path):
    recorded = tmp_path / "prompts"
    (recorded / "en").mkdir(parents=True)
    (recorded / "en" / "hi.wav").write_bytes(b"RIFF")
    menu, problems, _ = check(tmp_path, BASE.replace('en = "Hello"\n', ''), recorded_dir=recorded)
    assert menu is not None and problems == {}


@pytest.mark.parametrize("change, key, words", [
    ('timezone = "Asia/Shanghai"', "hours.office.timezone", "unknown time zone"),
    ('mon = ["09:00-18:00"]', "hours.office.weekly.mon", "must run forward"),
    ('mon = ["09:00-18:00"]', "hours.office.weekly.mon", "overlap"),
    ('mon = ["09:00-18:00"]', "hours.office.weekly.mon", "is not"),
    ('mon = ["09:00-18:00"]', "hours.office.weekly.funday", "unknown weekday"),
])
def test_bad_schedules(tmp_path, change, key, words):
    replacement = {
        "unknown time zone": 'timezone = "Mars/Olympus"',
        "must run forward": 'mon = ["18:00-09:00"]',
        "overlap": 'mon = ["09:00-12:00", "11:00-18:00"]',
        "is not": 'mon = ["9am-6pm"]',
        "unknown weekday": 'mon = ["09:00-18:00"]\nfunday = []',
    }[words]
    assert_errors(tmp_path, BASE.replace(change, replacement), {key: words})


def test_bad_holiday_and_special_day(tmp_path):
    text = BASE.replace('[hours.office.weekly]', 'holidays = ["2026-13-01"]\n[hours.office.special]\n'
                                                 '"2026-12-24" = ["08:00-25:00"]\n[hours.office.weekly]')
    assert_errors(tmp_path, text, {
        "hours.office.holidays[0]": "is not a date",
        'hours.office.special."2026-12-24"': "must run forward",
    })


def test_node_level_mistakes(tmp_path):
    text = BASE.replace('queue = "support"', 'queue = "nope"\npriority = 500').replace(
        '"1" = "sup"', '"1" = "sup"\n"12" = "sup"\n"a" = "sup"').replace(
        'intent = "complaint"\nnext', 'intent = "praise"\nmax_seconds = 9000\nnext')
    assert_errors(tmp_path, text, {
        "nodes.sup.queue": "unknown queue 'nope'",
        "nodes.sup.priority": "0..100",
        'nodes.main.choices."12"': "longer than max_digits",
        'nodes.main.choices."a"': "0-9, * and #",
        "nodes.vm.intent": "unknown intent 'praise'",
        "nodes.vm.max_seconds": "between 5 and 600",
    })


def test_syntax_errors_and_missing_files(tmp_path):
    assert "(syntax)" in {k for k, _ in refused(tmp_path, BASE + "\n[nodes.broken\n")}
    menu, problems = check_menu(tmp_path / "missing.toml")
    assert menu is None and "cannot read" in problems[0].message


def test_fallback_must_end_the_ivr(tmp_path):
    assert_errors(tmp_path, BASE.replace('fallback = "op"', 'fallback = "main"'), {
        "ivr.fallback": "must end the IVR",
    })


def test_tree_shows_every_route():
    lines = tree_lines(load_menu(DEMO))
    assert lines[0].startswith("welcome: hours hotline")
    assert any("2: to_sales: queue sales" in line for line in lines)
    assert any("9 language=en: main_en: menu" in line for line in lines)
    assert any("1 intent=complaint: leave_message: voicemail" in line for line in lines)


def test_reload_keeps_the_last_good_menu_and_refuses_a_bad_start(tmp_path):
    path = tmp_path / "ivr.toml"
    path.write_text(BASE, encoding="utf-8")
    source = MenuSource(path)
    first = source.current()
    path.write_text(BASE.replace('"1" = "sup"', '"1" = "gone"'), encoding="utf-8")
    assert source.current() is first and "unknown target 'gone'" in source.last_error
    path.write_text(BASE.replace('"0" = "op"', '"0" = "op"\n"2" = "sup"'), encoding="utf-8")
    assert "2" in source.current().nodes["main"].choices and source.reloads == 1
    path.write_text("nonsense = [", encoding="utf-8")
    with pytest.raises(MenuError):
        MenuSource(path)


def test_cli_check_and_show(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BASE.replace('"1" = "sup"', '"1" = "nowhere"'), encoding="utf-8")
    run = [sys.executable, "-m", "ctidesk.cli", "ivr"]
    r = subprocess.run([*run, "check", str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and f'{bad}: nodes.main.choices."1": error: unknown target' in r.stderr
    r = subprocess.run([*run, "check", str(DEMO)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "OK (" in r.stdout
    r = subprocess.run([*run, "show", str(DEMO)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "closed: closed_menu: menu" in r.stdout
