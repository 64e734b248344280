#!/usr/bin/env python3
"""Record a raw AMI wire trace.

    tools/capture_trace.py HOST PORT USER SECRET OUT --seconds N
    tools/capture_trace.py 127.0.0.1 5038 cti @~/.cache/ctidesk/asterisk-sid.state/ami.secret out.ami --seconds 20
    tools/capture_trace.py 127.0.0.1 5038 cti - out.ami --seconds 20       # '-': the sandbox's secret file

Logs in with ``Events: on`` and writes exactly the blocks Asterisk sends
(``\\r\\n`` line ends, a blank line after each block) to OUT for N seconds. The
banner and the login's own response are left out unless ``--keep-login``.

SECRET is the secret itself, ``@FILE`` to read it from a file, or ``-`` for
the sandbox secret file (``Settings.sandbox_secret_file``) (prefer the file forms: a secret on the
command line shows in ``ps``).

``--scenario NAME`` (with ``-`` or any OUT) instead drives one of the recorded
sandbox scenarios (see ``sandbox/scenarios.py``) and captures it from a clean
queue state until a few seconds after the last hang-up; OUT may be a directory.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from sandbox.rawami import RawAmiError, capture  # noqa: E402


def read_secret(arg: str) -> str:
    if arg == "-":
        from ctidesk.settings import load_settings

        settings = load_settings()
        if settings.ami_secret:
            return settings.ami_secret
        path = settings.sandbox_secret_file
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"cannot read the sandbox secret {path}: {exc}") from None
    if arg.startswith("@"):
        path = Path(arg[1:])
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SystemExit(f"cannot read the secret file {path}: {exc}") from None
    return arg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("user")
    parser.add_argument("secret", help="the secret, @FILE, or - for the sandbox's secret file")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0, help="capture length (scenario: the maximum)")
    parser.add_argument("--keep-login", action="store_true", help="also write the banner and login response")
    parser.add_argument("--scenario", help="drive and record a sandbox scenario ('list' to list them)")
    args = parser.parse_args(argv)
    secret = read_secret(args.secret)

    if args.scenario:
        from sandbox import scenarios

        if args.scenario == "list":
            for name, scenario in scenarios.SCENARIOS.items():
                print(f"{name}: {scenario.description}")
            return 0
        out = args.out / f"{args.scenario}.ami" if args.out.is_dir() else args.out
        summary = scenarios.record(args.scenario, out, host=args.host, port=args.port, user=args.user,
                                   secret=secret, max_seconds=args.seconds)
        print(summary)
        return 0

    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(args.out, "wb") as fh:
            count = capture(args.host, args.port, args.user, secret, fh, args.seconds, keep_login=args.keep_login)
    except RawAmiError as exc:
        print(f"capture failed: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {count} blocks to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
