"""The suite's store on PostgreSQL (``pytest --store=postgresql``): every data folder a
test opens gets a database of its own, cloned from one migrated at the start of the
session (a clone is a file copy: no migration per test).

The first folder a test opens takes the database named in ``WATCHER_STORE``, which the
test's CLI runs and child processes read as a deployment would; any other folder (a
second store, ``watcher test``'s scratch store) gets a clone of its own, as it would
get a file of its own on SQLite.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pgserver import PGServer

TEMPLATE = "watcher_template"


def make_template(server: PGServer) -> str:
    """A database at the newest schema, to clone: made once per session."""
    from watcher.store.index import Store

    server.drop(TEMPLATE)
    url = server.database(TEMPLATE)
    with tempfile.TemporaryDirectory() as folder:
        Store(Path(folder), index=url, fsync=False).close()
    return TEMPLATE


class PGStores:
    """One test's databases: ``url`` for the first data folder, clones for others."""

    def __init__(self, server: PGServer, template: str) -> None:
        self.server = server
        self.template = template
        self.url = server.database(template=template)
        self._by_root: dict[Path, str] = {}

    def resolve(self, root: Path, index: str | None) -> str:
        if index:
            return index
        key = Path(root).resolve()
        if key not in self._by_root:
            first = not self._by_root
            url = self.url if first else self.server.database(template=self.template)
            self._by_root[key] = url
        return self._by_root[key]

    def drop(self) -> None:
        for url in {self.url, *self._by_root.values()}:
            self.server.drop(url.rsplit("/", 1)[1])
