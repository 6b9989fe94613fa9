"""Who is asking: the user a request acts as, and the role that says what they may do.

Every page and action asks this module, never the sign-in machinery, so that a
password, an account, a trusted proxy header or OIDC all end the same way: a
``User`` on ``request.state.user``. With no sign-in configured, the one local
user is an admin (the UI listens on 127.0.0.1 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

__all__ = ["LOCAL", "ROLES", "User", "current_user", "require"]

# Ordered: each role may do what the ones before it may.
ROLES = ("viewer", "analyst", "admin")


@dataclass(frozen=True, slots=True)
class User:
    name: str  # what triage records say did it: an account's name
    role: str  # one of ROLES

    def may(self, role: str) -> bool:
        """Whether this user's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


LOCAL = User(name="local", role="admin")  # no accounts: whoever reaches the UI


def current_user(request: Any) -> User:
    """The user the sign-in step put on the request, or the local admin."""
    user = getattr(request.state, "user", None)
    return user if isinstance(user, User) else LOCAL


def require(request: Any, role: str) -> User:
    """The current user, or 403 naming the role an action needs."""
    user = current_user(request)
    if not user.may(role):
        raise HTTPException(403, f"this needs the {role} role; {user.name} is {user.role}")
    return user
