#!/usr/bin/env python3
"""Run every benchmark in bench/ (``./dev bench``). Each prints its own figures
against a baseline measured in the same run, ratio last."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["ami_throughput.py", "screen_pop.py", "tickets.py", "kb.py", "ivr.py", "recordings.py",
           "supervisor_feed.py", "softphone.py"]


def main() -> int:
    failed = []
    for name in BENCHES:
        print(f"\n===== {name} =====", flush=True)
        rc = subprocess.run([sys.executable, str(HERE / name)]).returncode
        if rc:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
