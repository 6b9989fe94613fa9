"""The web UI's login state in the index: its random key, the password's hash, sessions.

The web UI reads the store through read-only connections; this is its one writer,
with a connection of its own and without the data folder's writer lock (its writes
are a row or two, which SQLite serialises with a running check). It never creates or
migrates the index: a missing index or an older schema is a ``StoreError``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from watcher.store import dialects
from watcher.store.accounts import Accounts
from watcher.store.index import SideEngine, StoreError
from watcher.store.schema import web_secrets, web_sessions

KEY = "key"
PASSWORD = "password"


class WebAuthStore:
    """Key, password hash and sessions of the web UI over the index in ``root``."""

    def __init__(self, root: Path, index: str | None = None) -> None:
        self._connected = SideEngine(root, index)
        self.index = self._connected.index
        self.exists = self._connected.exists
        self._key: bytes | None = None
        self.accounts = Accounts(self._connected)

    def close(self) -> None:
        self._connected.close()

    # -- the key ----------------------------------------------------------------------

    def key(self, now: datetime) -> bytes:
        """The store's random key, made on first use and kept for good: tokens made by
        one process (or before a restart) are valid in the next."""
        if self._key is None:
            made = secrets.token_hex(32)
            with self._transaction() as conn:
                conn.execute(
                    dialects.of(conn)
                    .insert_or_ignore(web_secrets)
                    .values(name=KEY, value=made, created_at=now)
                )
                value = conn.execute(
                    sa.select(web_secrets.c.value).where(web_secrets.c.name == KEY)
                ).scalar_one()
            self._key = bytes.fromhex(value)
        return self._key

    # -- the password -----------------------------------------------------------------

    def password_hash(self) -> str | None:
        """The argon2 hash of the password sessions were made under (None: never set)."""
        with self._transaction() as conn:
            return conn.execute(
                sa.select(web_secrets.c.value).where(web_secrets.c.name == PASSWORD)
            ).scalar()

    def new_password(self, encoded: str, now: datetime) -> int:
        """Record a new password's hash and end every session made under the old one, in
        one transaction; returns how many sessions ended."""
        with self._transaction() as conn:
            conn.execute(sa.delete(web_secrets).where(web_secrets.c.name == PASSWORD))
            conn.execute(
                sa.insert(web_secrets).values(name=PASSWORD, value=encoded, created_at=now)
            )
            shortcut = web_sessions.c.user_id.is_(None)  # accounts keep theirs
            return conn.execute(sa.delete(web_sessions).where(shortcut)).rowcount

    # -- sessions ---------------------------------------------------------------------

    def add_session(
        self, session_id: str, now: datetime, expires: datetime, user_id: int | None = None
    ) -> None:
        """A new session (``session_id``: the SHA-256 of its cookie) of account
        ``user_id`` (None: of the password shortcut); expired ones go."""
        with self._transaction() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.expires_at <= now))
            conn.execute(
                sa.insert(web_sessions).values(
                    id=session_id, created_at=now, expires_at=expires, user_id=user_id
                )
            )

    def session(self, session_id: str) -> tuple[datetime, int | None] | None:
        """When the session ends and whose it is; None when there is no such session."""
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(web_sessions.c.expires_at, web_sessions.c.user_id).where(
                    web_sessions.c.id == session_id
                )
            ).first()
            return (row.expires_at, row.user_id) if row else None

    def session_expires(self, session_id: str) -> datetime | None:
        """When the session ends; None when there is no such session."""
        found = self.session(session_id)
        return found[0] if found else None

    def end_session(self, session_id: str) -> None:
        with self._transaction() as conn:
            conn.execute(sa.delete(web_sessions).where(web_sessions.c.id == session_id))

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        """One transaction; database errors become ``StoreError``s naming the cause."""
        try:
            with self._connected().begin() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise _store_error(exc) from None


def _store_error(exc: sa.exc.DBAPIError) -> StoreError:
    reason = getattr(exc.orig, "args", [str(exc)])[0]
    return StoreError(f"the web UI cannot keep its login state in the index: {reason}")
