"""The suite's store on PostgreSQL (``pytest --store=postgresql``): every data folder the
tests open gets a database of its own, cloned on first use from one migrated at the
start of the session (a clone is a file copy: no migration per test), as it would get
an index file of its own on SQLite.

A watcher started in a child process is given its folder's database as a deployment
gives it, in ``WATCHER_STORE``: ``child_env(data)``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from pgserver import PGServer

TEMPLATE = "watcher_template"
_current: PGStores | None = None  # the session's, with --store=postgresql


def make_template(server: PGServer) -> str:
    """A database at the newest schema, to clone: made once per session."""
    from watcher.store.index import Store

    server.drop(TEMPLATE)
    url = server.database(TEMPLATE)
    with tempfile.TemporaryDirectory() as folder:
        Store(Path(folder), index=url, fsync=False).close()
    return TEMPLATE


class PGStores:
    """The session's databases, one per data folder."""

    def __init__(self, server: PGServer, template: str) -> None:
        self.server = server
        self.template = template
        self.by_root: dict[Path, str] = {}
        self._lock = threading.Lock()  # the web app opens stores from its threads

    def url_for(self, root: Path) -> str:
        key = Path(root).resolve()
        with self._lock:
            if key not in self.by_root:
                self.by_root[key] = self.server.database(template=self.template)
            return self.by_root[key]

    def resolve(self, root: Path, index: str | None) -> str:
        return index or self.url_for(root)

    def drop_under(self, folder: Path) -> None:
        """Drop the databases of the data folders inside ``folder`` (a test's tmp_path)."""
        base = folder.resolve()
        with self._lock:
            gone = [r for r in self.by_root if r.is_relative_to(base)]
            urls = [self.by_root.pop(r) for r in gone]
        for url in urls:
            self.server.drop(url.rsplit("/", 1)[1])


def activate(stores: PGStores | None) -> None:
    global _current
    _current = stores


def child_env(data: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a watcher in a child process on ``data``: with
    ``--store=postgresql``, its database in ``WATCHER_STORE``."""
    made = dict(os.environ if env is None else env)
    if _current is not None:
        made["WATCHER_STORE"] = _current.url_for(data)
    return made


def index_engine(data: Path) -> Any:
    """An engine straight on the index of the store in ``data``, for a test that reaches
    under the store (its file on SQLite, its database on PostgreSQL)."""

    from watcher.store import dialects

    return dialects.engine(data, _current.url_for(data) if _current else None, readonly=False)


def on_postgresql() -> bool:
    """Whether this session's stores are on PostgreSQL (``--store=postgresql``)."""
    return _current is not None


def copy_store(source: Path, target: Path) -> None:
    """A copy of the store in ``source`` at ``target``: its folder, and on PostgreSQL its
    database (cloned; the source's idle connections are ended for it, and its engines
    connect again when next used)."""
    import shutil

    import psycopg

    shutil.copytree(source, target)
    if _current is None:
        return
    name = _current.url_for(source).rsplit("/", 1)[1]
    server = _current.server
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
    url = server.database(template=name)
    with _current._lock:
        _current.by_root[Path(target).resolve()] = url
