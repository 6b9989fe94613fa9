"""A throwaway PostgreSQL cluster for the team store's tests: Debian's own server binaries,
a data directory under a temporary folder, listening on 127.0.0.1 at a free port.

Nothing is mocked: the tests talk to a real server. Durability is switched off (fsync,
synchronous_commit, full_page_writes), since the cluster is deleted at the end; what the
store asks of PostgreSQL (transactions, locks, SKIP LOCKED) is unchanged by that.

PostgreSQL refuses to run as root, so when the tests run as root (CI in a container) the
cluster belongs to ``nobody`` and its commands run as that user. ``WATCHER_TEST_PG`` names
an existing server instead (``postgresql://user@host:port/db`` whose user may create
databases); then no cluster is started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

__all__ = ["PGServer", "available", "unavailable_reason"]

_VERSIONS = ("17", "16", "15", "14", "13")


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    for version in _VERSIONS:
        candidate = Path(f"/usr/lib/postgresql/{version}/bin")
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


def unavailable_reason() -> str | None:
    """Why no cluster can be started here (None: one can)."""
    if os.environ.get("WATCHER_TEST_PG"):
        return None
    if _bindir() is None:
        return "PostgreSQL's server is not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root without setpriv to start PostgreSQL as nobody"
    return None


def available() -> bool:
    return unavailable_reason() is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PGServer:
    """One cluster for a test session; ``database()`` gives each test a database of its own."""

    def __init__(self) -> None:
        existing = os.environ.get("WATCHER_TEST_PG")
        self._tmp: Path | None = None
        self._bindir = _bindir()
        if existing:
            self.url = existing.rstrip("/")
            self.admin_url = self.url
            return
        if self._bindir is None:
            raise RuntimeError(unavailable_reason())
        self._tmp = Path(tempfile.mkdtemp(prefix="watcher-pg-"))
        self._data = self._tmp / "data"
        self._as_nobody = os.geteuid() == 0
        if self._as_nobody:
            os.chmod(self._tmp, 0o777)
        self._run(
            "initdb",
            "-D",
            str(self._data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self._tmp} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self._data),
            "-o",
            options,
            "-l",
            str(self._tmp / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.url = self.admin_url

    def _run(self, tool: str, *args: str) -> None:
        assert self._bindir is not None
        command = [str(self._bindir / tool), *args]
        if self._as_nobody:
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self._tmp)
        if result.returncode != 0:
            log = self._tmp / "log" if self._tmp else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr}{tail}")

    def database(self, name: str | None = None, template: str | None = None) -> str:
        """A new, empty database (or a copy of ``template``); its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if template and conn.info.server_version >= 150000:
                clause += " STRATEGY FILE_COPY"  # a small database: 3x faster than WAL_LOG
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._tmp is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
