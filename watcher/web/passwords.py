"""The UI's password, held only as its argon2 hash.

``WATCHER_PASSWORD`` is hashed (or checked against the hash the store keeps) once, at
start, and the clear text is not kept. The store keeps the hash so that a changed
password is noticed at the next start: then every session made under the old one
ends. A password right once is remembered as an HMAC under a key of this process
only, so that a program sending it with every API call costs one argon2 check, not
one per call.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from watcher.core.clock import Clock
from watcher.store.index import StoreError
from watcher.store.websec import WebAuthStore

log = logging.getLogger(__name__)


class Password:
    """Checks a given password against one argon2 hash."""

    def __init__(self, encoded: str, hasher: PasswordHasher) -> None:
        self.encoded = encoded
        self._hasher = hasher
        self._process_key = secrets.token_bytes(32)
        self._known_good: bytes | None = None

    @classmethod
    def adopt(
        cls, clear: str, store: WebAuthStore, clock: Clock, hasher: PasswordHasher | None = None
    ) -> Password:
        """The password of this start: the store's hash when it is this password's,
        else a new hash, recorded, which ends the sessions of the old password."""
        hasher = hasher or PasswordHasher()
        try:
            stored = store.password_hash()
        except StoreError as exc:
            log.warning("%s; logins cannot last until it can be written", exc)
            return cls(hasher.hash(clear), hasher)
        if stored is not None and _verifies(hasher, stored, clear):
            return cls(stored, hasher)
        encoded = hasher.hash(clear)
        ended = store.new_password(encoded, clock.now())
        if stored is not None:
            log.warning("the web UI's password changed: %d sessions ended", ended)
        return cls(encoded, hasher)

    def matches(self, given: str) -> bool:
        """Whether ``given`` is the password (argon2, unless it was right before)."""
        tag = hmac.new(self._process_key, given.encode(), hashlib.sha256).digest()
        if self._known_good is not None and hmac.compare_digest(tag, self._known_good):
            return True
        if not _verifies(self._hasher, self.encoded, given):
            return False
        self._known_good = tag
        return True


def _verifies(hasher: PasswordHasher, encoded: str, given: str) -> bool:
    try:
        return hasher.verify(encoded, given)
    except (VerificationError, InvalidHashError):
        return False


class AccountPasswords:
    """Checks the passwords of accounts: argon2 against each user's stored hash, with a
    right one remembered (per user, and only while their hash stays the same)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._process_key = secrets.token_bytes(32)
        self._known_good: dict[str, tuple[str, bytes]] = {}
        self._dummy: str | None = None

    def hash(self, clear: str) -> str:
        return self.hasher.hash(clear)

    def matches(self, name: str, encoded: str | None, given: str) -> bool:
        """Whether ``given`` is the password of ``name`` whose hash is ``encoded``
        (None: no such user, or no password; checked against a dummy all the same, so
        that the time taken does not tell which names exist)."""
        tag = hmac.new(self._process_key, f"{name}\0{given}".encode(), hashlib.sha256).digest()
        known = self._known_good.get(name)
        remembered = encoded is not None and known is not None and known[0] == encoded
        if remembered and known is not None and hmac.compare_digest(known[1], tag):
            return True
        if encoded is None:
            if self._dummy is None:
                self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
            _verifies(self.hasher, self._dummy, given)
            return False
        if not _verifies(self.hasher, encoded, given):
            return False
        self._known_good[name] = (encoded, tag)
        return True
