"""Accounts and the audit: users with a role and an argon2 hash, and who did what.

The SQL of both lives here; the web UI reaches it through ``WebAuthStore.accounts``
(its one writer connection), the CLI through the writer ``Store``'s engine. A user's
sessions end in the same transaction as their password change or removal, so no
cookie outlives either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from watcher.store.index import StoreError
from watcher.store.schema import audit, users, web_sessions

ROLE_NAMES = ("viewer", "analyst", "admin")  # the web's identity.ROLES, in the same order
RECENT = 50  # audit rows a listing shows


@dataclass(frozen=True, slots=True)
class Account:
    """One row of ``users``."""

    id: int
    name: str
    role: str
    password_hash: str | None
    created_at: datetime
    last_login_at: datetime | None
    disabled: bool


@dataclass(frozen=True, slots=True)
class Action:
    """One row of the audit: ``user`` did ``action`` to ``subject`` at ``at``."""

    at: datetime
    user: str
    action: str
    subject: str
    detail: str


class AccountError(StoreError):
    """A user that does not exist, exists already, or a role that is none."""


class Accounts:
    """Users and the audit over the engine ``connect`` gives."""

    def __init__(self, connect: Callable[[], sa.Engine]) -> None:
        self._connect = connect

    # -- users ------------------------------------------------------------------------

    def add(self, name: str, role: str, password_hash: str | None, now: datetime) -> Account:
        """A new user; ``AccountError`` when the name is taken or the role unknown."""
        _check_role(role)
        if not name or ":" in name or name != name.strip():
            raise AccountError(
                f"user name {name!r} refused: it must be non-empty, without ':' "
                "and without spaces around it"
            )
        with self._transaction() as conn:
            if _row(conn, name) is not None:
                raise AccountError(f"there is already a user named {name!r}")
            conn.execute(
                sa.insert(users).values(
                    name=name, role=role, password_hash=password_hash, created_at=now
                )
            )
            account = _row(conn, name)
        assert account is not None
        return account

    def get(self, name: str) -> Account | None:
        with self._transaction() as conn:
            return _row(conn, name)

    def by_id(self, user_id: int) -> Account | None:
        with self._transaction() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).first()
            return _account(row) if row else None

    def all(self) -> list[Account]:
        """Every user, by name."""
        with self._transaction() as conn:
            return [_account(r) for r in conn.execute(sa.select(users).order_by(users.c.name))]

    def any(self) -> bool:
        """Whether any user exists (then the UI needs a sign-in)."""
        with self._transaction() as conn:
            return conn.execute(sa.select(users.c.id).limit(1)).first() is not None

    def set_password(self, name: str, password_hash: str) -> int:
        """A new hash for ``name``; every session of theirs ends. Returns how many."""
        with self._transaction() as conn:
            account = _existing(conn, name)
            conn.execute(
                sa.update(users).where(users.c.id == account.id).values(password_hash=password_hash)
            )
            return _end_sessions(conn, account.id)

    def set_role(self, name: str, role: str) -> None:
        _check_role(role)
        with self._transaction() as conn:
            account = _existing(conn, name)
            conn.execute(sa.update(users).where(users.c.id == account.id).values(role=role))

    def remove(self, name: str) -> int:
        """Remove ``name`` and end their sessions; returns how many ended."""
        with self._transaction() as conn:
            account = _existing(conn, name)
            ended = _end_sessions(conn, account.id)
            conn.execute(sa.delete(users).where(users.c.id == account.id))
            return ended

    def logged_in(self, user_id: int, now: datetime) -> None:
        with self._transaction() as conn:
            conn.execute(sa.update(users).where(users.c.id == user_id).values(last_login_at=now))

    # -- the audit --------------------------------------------------------------------

    def record_action(
        self,
        user: str | Any,
        action: str,
        subject: str,
        detail: str = "",
        now: datetime | None = None,
    ) -> None:
        """Keep that ``user`` (a name, or anything with a ``name``: the web's ``User``)
        did ``action`` to ``subject`` (a target, capture, event or user name) at
        ``now`` (default: the system clock; the web passes its own);
        ``detail``: what changed, in words."""
        name = user if isinstance(user, str) else str(user.name)
        with self._transaction() as conn:
            conn.execute(
                sa.insert(audit).values(
                    at=now or datetime.now(UTC),
                    user_name=name,
                    action=action,
                    subject=subject,
                    detail=detail,
                )
            )

    def record_actions(
        self, user: str, action: str, done: list[tuple[str, str]], now: datetime
    ) -> None:
        """Keep one action done to many subjects (``done``: subject and detail pairs)
        in one transaction: a bulk triage of 50 items is 50 rows, one commit."""
        if not done:
            return
        rows = [
            {"at": now, "user_name": user, "action": action, "subject": s, "detail": d}
            for s, d in done
        ]
        with self._transaction() as conn:
            conn.execute(sa.insert(audit), rows)

    def actions(
        self, subject: str | None = None, user: str | None = None, limit: int = RECENT
    ) -> list[Action]:
        """What was done, newest first: to ``subject``, by ``user``, or both."""
        where = sa.and_(
            audit.c.subject == subject if subject else sa.true(),
            audit.c.user_name == user if user else sa.true(),
        )
        return self._actions(where, limit)

    def actions_for(self, subject: str, limit: int = RECENT) -> list[Action]:
        """What was done to ``subject``, newest first."""
        return self._actions(audit.c.subject == subject, limit)

    def recent_actions(self, limit: int = RECENT) -> list[Action]:
        """What was done to anything, newest first."""
        return self._actions(sa.true(), limit)

    def _actions(self, where: sa.ColumnElement[bool], limit: int) -> list[Action]:
        query = sa.select(audit).where(where).order_by(audit.c.at.desc(), audit.c.id.desc())
        with self._transaction() as conn:
            return [
                Action(r.at, r.user_name, r.action, r.subject, r.detail)
                for r in conn.execute(query.limit(limit))
            ]

    @contextmanager
    def _transaction(self) -> Iterator[sa.Connection]:
        try:
            with self._connect().begin() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            reason = getattr(exc.orig, "args", [str(exc)])[0]
            raise StoreError(
                f"the accounts in the index cannot be read or written: {reason}"
            ) from None


def _check_role(role: str) -> None:
    if role not in ROLE_NAMES:
        raise AccountError(f"no role {role!r}: the roles are {', '.join(ROLE_NAMES)}")


def _row(conn: sa.Connection, name: str) -> Account | None:
    row = conn.execute(sa.select(users).where(users.c.name == name)).first()
    return _account(row) if row else None


def _existing(conn: sa.Connection, name: str) -> Account:
    account = _row(conn, name)
    if account is None:
        raise AccountError(f"no user named {name!r} (`watcher user list` shows them)")
    return account


def _end_sessions(conn: sa.Connection, user_id: int) -> int:
    return conn.execute(sa.delete(web_sessions).where(web_sessions.c.user_id == user_id)).rowcount


def _account(row: sa.Row) -> Account:
    return Account(
        row.id, row.name, row.role, row.password_hash, row.created_at,
        row.last_login_at, bool(row.disabled),
    )  # fmt: skip
