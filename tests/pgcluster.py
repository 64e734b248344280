"""A throwaway PostgreSQL cluster for the test runner's ``postgres`` tier.

``initdb`` into a temporary directory, the server listening only on a unix
socket in that directory (no TCP port to collide with another run or with a
site's own PostgreSQL), ``pg_ctl start``; :meth:`Cluster.stop` stops it and
removes the directory. Settings trade durability for speed (``fsync=off``):
the cluster lives for one test run.

The cluster is UTF-8 with the ``C.UTF-8`` locale: ``pg_trgm`` only makes
trigrams of "word" characters, and under the plain ``C`` locale no CJK
character is one (``show_trgm('中文客户')`` is ``{}``), so Chinese substrings
would never use the trigram indexes.

PostgreSQL refuses to run as root: as root the cluster belongs to the
``postgres`` user the Debian package creates (``nobody`` if there is none)
and the server is started through ``runuser``.

    python -m tests.pgcluster      # start one, print its URL, stop on Enter
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "ctidesk"
SHM_NEEDED = 1 << 30  # the cluster, its template and a few test databases, with room to spare
URL_ENV = "CTIDESK_TEST_POSTGRES_URL"  # the tier's server (a database of it), for tests/pgdb.py


class ClusterError(RuntimeError):
    """The cluster could not be created or started (the message says why)."""


def bindir() -> Path:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    env = os.environ.get("CTIDESK_PG_BINDIR")
    if env:
        return Path(env)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ClusterError("no PostgreSQL server found (no /usr/lib/postgresql/*/bin/initdb): "
                       "install Debian's postgresql package (./dev test does)")


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise ClusterError("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


class Cluster:
    def __init__(self) -> None:
        self.bin = bindir()
        self.user = _run_as()
        # In memory when the machine has room in /dev/shm (a container's may be 64 MB):
        # every test copies a database, and on a busy disk that copy took a second
        # instead of a few hundredths.
        shm = Path("/dev/shm")
        roomy = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > SHM_NEEDED
        where = shm if roomy else None
        self.dir = Path(tempfile.mkdtemp(prefix="ctidesk-pg-", dir=where))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.started = False

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the maintenance database ``postgres`` over the unix socket."""
        return f"postgresql+asyncpg://{SUPERUSER}@/postgres?host={self.dir}"

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *args] if self.user else list(args)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            log = self.log.read_text(errors="replace").strip().splitlines()[-5:] if self.log.exists() else []
            raise ClusterError(f"{Path(args[0]).name} failed ({done.returncode}): " + " | ".join(tail + log))
        return done

    def start(self) -> "Cluster":
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        options = " ".join([
            f"-k {self.dir}", "-c listen_addresses=''", "-c fsync=off", "-c synchronous_commit=off",
            "-c full_page_writes=off", "-c max_connections=200", "-c shared_buffers=64MB",
        ])
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop(self) -> None:
        try:
            if self.started:
                subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                                         "-w", "stop"), capture_output=True, text=True)
                self.started = False
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    with Cluster() as cluster:
        print(f"{URL_ENV}={cluster.url}")
        input("PostgreSQL is running; press Enter to stop it. ")
