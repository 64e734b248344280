#!/usr/bin/env python3
"""Run the test tiers in order and say plainly how many tests of each ran.

1. unit     - pure Python, fake AMI, in-process app (fast; runs first)
2. postgres - the unit tests that touch a database, and tests/pg, on a
              throwaway PostgreSQL cluster started and stopped here
              (tests/pgcluster.py; selection: tests/pgtier.py); at the same
              time as the unit tier (SIDE_BY_SIDE)
3. real     - the sandbox Asterisk 22, real calls (provisioned and started here)
4. browser  - headless Debian Chromium against the real app

A tier that cannot run (no Asterisk, no Chromium, no PostgreSQL) FAILS the
run with the reason; a tier that skipped tests or collected none fails too.
The last line is the plain "N passed, N failed" summary CI reads.

    tools/run_tests.py [--tier unit|postgres|real|browser]... [-- extra pytest args]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
TIERS = {
    "unit": ["tests/unit"],
    "postgres": ["-p", "tests.pgtier", "tests/unit", "tests/pg"],
    "real": ["tests/real"],
    "browser": ["tests/browser"],
}


# Tests a tier must have run, by module prefix: a selection that silently lost
# them (tests/pg once was, by a conftest that decided too early) fails the run.
MUST_RUN = {"postgres": "tests.pg."}


def ran_from(junit: Path, prefix: str) -> int:
    if not junit.exists():
        return 0
    return sum(1 for case in ET.parse(junit).getroot().iter("testcase")
               if case.get("classname", "").startswith(prefix))


def counts(junit: Path) -> dict:
    if not junit.exists():
        return {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for s in suites:
        for k in total:
            total[k] += int(s.get(k, 0))
    return total


def sandbox(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "ctidesk.cli", "sandbox", command], cwd=ROOT, text=True,
                          capture_output=True)


# Tiers that need no Asterisk and share nothing run side by side: each is one
# pytest process on one core, the machine has two, and the pair then takes
# about as long as the longer one instead of the sum (CI's 20-minute budget).
# Their output goes to a file each, printed whole when both are done.
SIDE_BY_SIDE = ("unit", "postgres")


class Run:
    """One tier's pytest process, started now."""

    def __init__(self, tier: str, tmp: Path, pytest_args: list[str], env: dict, *, log: Path | None) -> None:
        self.tier, self.t0, self.junit, self.log = tier, time.monotonic(), tmp / f"{tier}.xml", log
        self.narrowed = bool(pytest_args)  # a developer's own selection (-k ...): MUST_RUN not checked
        print(f"==> tier {tier}: pytest {' '.join(TIERS[tier])}" + (f" (output: {log})" if log else ""), flush=True)
        out = open(log, "w") if log else None
        self.proc = subprocess.Popen([PY, "-m", "pytest", *TIERS[tier], "-q", "-p", "no:cacheprovider",
                                      "-W", "ignore::DeprecationWarning", f"--junitxml={self.junit}",
                                      "--durations=8",  # where CI time goes, in every run's log
                                      *pytest_args], cwd=ROOT, env=env, stdout=out,
                                     stderr=subprocess.STDOUT if out else None)
        if out:
            out.close()
        # Its own end time, though its result is read after the other tier's.
        self.seconds = 0.0
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.seconds = time.monotonic() - self.t0

    def result(self) -> tuple[str, dict, str]:
        rc = self.proc.wait()
        self.waiter.join()
        seconds = self.seconds
        if self.log:
            print(f"\n==> tier {self.tier}: output", flush=True)
            sys.stdout.write(self.log.read_text(errors="replace"))
            sys.stdout.flush()
        c = counts(self.junit)
        note = ""
        must = None if self.narrowed else MUST_RUN.get(self.tier)
        if c["tests"] == 0:
            note = "NO TESTS RAN"
        elif must and not ran_from(self.junit, must):
            c["errors"] += 1
            note = f"NONE OF {must}* RAN"
        elif rc not in (0, 1) and not (c["failures"] or c["errors"]):
            c["errors"] += 1
            note = f"pytest exit code {rc}"
        return self.tier, c, (note + f" ({seconds:.0f}s)").strip()


def not_run(tier: str, reason: str) -> tuple[str, dict, str]:
    print(f"!!! TIER {tier.upper()} CANNOT RUN: {reason}", flush=True)
    return tier, {"tests": 0, "failures": 0, "errors": 1, "skipped": 0}, f"NOT RUN: {reason}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tier", action="append", choices=list(TIERS))
    ap.add_argument("pytest_args", nargs="*")
    a = ap.parse_args()
    tiers = [t for t in TIERS if t in (a.tier or list(TIERS))]
    results: list[tuple[str, dict, str]] = []
    started_sandbox = False
    cluster = None
    tmp = Path(tempfile.mkdtemp(prefix="ctidesk-tests-"))
    t_all = time.monotonic()
    try:
        together = [t for t in tiers if t in SIDE_BY_SIDE]
        runs: list[Run] = []
        for tier in together:
            env = dict(os.environ)
            if tier == "postgres":
                sys.path.insert(0, str(ROOT))
                from tests.pgcluster import URL_ENV, Cluster, ClusterError

                try:
                    print("==> starting a throwaway PostgreSQL cluster for the postgres tier", flush=True)
                    cluster = Cluster()
                    cluster.start()
                    print(f"    {cluster.url}", flush=True)
                except ClusterError as exc:
                    results.append(not_run(tier, str(exc)))
                    if cluster is not None:
                        cluster.stop()
                        cluster = None
                    continue
                env[URL_ENV] = cluster.url
            runs.append(Run(tier, tmp, a.pytest_args, env, log=tmp / f"{tier}.log" if len(together) > 1 else None))
        for run in runs:
            results.append(run.result())
        if cluster is not None:
            cluster.stop()
            cluster = None
        for tier in (t for t in tiers if t not in SIDE_BY_SIDE):
            status = sandbox("status")
            if status.returncode != 0:
                print(f"==> starting the sandbox Asterisk for the {tier} tier", flush=True)
                up = sandbox("up")
                sys.stdout.write(up.stdout)
                if up.returncode != 0:
                    reason = (up.stderr or up.stdout).strip().splitlines()[-1:] or ["unknown"]
                    results.append(not_run(tier, f"sandbox Asterisk unavailable: {reason[0]}"))
                    continue
                started_sandbox = True
            results.append(Run(tier, tmp, a.pytest_args, dict(os.environ), log=None).result())
    finally:
        if cluster is not None:
            cluster.stop()
        if started_sandbox:
            down = sandbox("down")
            print(down.stdout.strip())
    print("\n==> test tiers")
    failed_total = passed_total = 0
    bad = False
    for tier, c, note in results:
        failed = c["failures"] + c["errors"]
        passed = c["tests"] - failed - c["skipped"]
        passed_total += passed
        failed_total += failed
        flag = ""
        if failed or c["tests"] == 0 or (tier != "unit" and c["skipped"]):
            bad = True
            flag = "  <-- FAILS THE RUN" + (" (skips are not allowed in this tier)" if c["skipped"] and tier != "unit" else "")
        print(f"  {tier:<8} {c['tests']:>4} ran: {passed:>4} passed, {failed:>3} failed, {c['skipped']:>3} skipped"
              f"  {note}{flag}")
    print(f"  total time {time.monotonic() - t_all:.0f}s")
    print(f"{passed_total} passed, {failed_total} failed")
    return 1 if bad or failed_total else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
