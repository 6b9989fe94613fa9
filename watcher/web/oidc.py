"""Sign-in with an OpenID Connect provider (``settings.oidc``), through Authlib's
Starlette client: Authorization Code flow with PKCE (S256), ``state`` and ``nonce``.

What a sign-in in flight needs (state, nonce, PKCE verifier, where to go after) is
kept in this process, under a random cookie, for ten minutes: nothing of it travels
in a cookie's content. A signed-in user gets the same server-side session as a
password sign-in; their name is the ``name_claim`` of the ID token, their role the
``role_claim`` mapped through ``roles``, else ``default_role``, else they are refused.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
from datetime import datetime, timedelta
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from watcher.config.model import OidcSettings
from watcher.core.clock import Clock
from watcher.store.index import StoreError
from watcher.web.context import context_of
from watcher.web.identity import ROLES, User
from watcher.web.security import Guard, safe_next

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

FLOW_COOKIE = "watcher_oidc"
FLOW_MINUTES = 10
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class OidcError(Exception):
    """A sign-in that cannot start or was refused; the message says why."""


class Flows:
    """Sign-ins in flight: a dict per browser (Authlib's "session"), in memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._flows: dict[str, tuple[datetime, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def new(self) -> tuple[str, dict[str, Any]]:
        key = secrets.token_urlsafe(32)
        data: dict[str, Any] = {}
        now = self.clock.now()
        with self._lock:
            self._flows = {k: v for k, v in self._flows.items() if v[0] > now}
            self._flows[key] = (now + timedelta(minutes=FLOW_MINUTES), data)
        return key, data

    def take(self, key: str | None) -> dict[str, Any] | None:
        """The flow of ``key``, once: a callback replayed finds nothing."""
        with self._lock:
            found = self._flows.pop(key, None) if key else None
        if found is None or found[0] <= self.clock.now():
            return None
        return found[1]


def client_secret(oidc: OidcSettings) -> str:
    """``settings.oidc.client_secret`` with each ``${VAR}`` read from the environment."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise OidcError(
                f"settings.oidc.client_secret names ${{{name}}}, which is not set "
                "in the environment"
            )
        return os.environ[name]

    return _VAR.sub(value, oidc.client_secret)


class OidcClient:
    """Authlib's client for one ``settings.oidc``, made again when the config changes."""

    def __init__(self, clock: Clock) -> None:
        self.flows = Flows(clock)
        self._made: tuple[tuple[Any, ...], Any] | None = None

    def client(self, oidc: OidcSettings) -> Any:
        from authlib.integrations.starlette_client import OAuth

        secret = client_secret(oidc)
        key = (oidc.issuer, oidc.client_id, secret, oidc.scope)
        if self._made is None or self._made[0] != key:
            oauth = OAuth()
            oauth.register(
                name="oidc",
                client_id=oidc.client_id,
                client_secret=secret,
                server_metadata_url=oidc.issuer.rstrip("/") + "/.well-known/openid-configuration",
                client_kwargs={"scope": oidc.scope, "code_challenge_method": "S256"},
            )
            self._made = (key, oauth.create_client("oidc"))
        return self._made[1]


def role_of(oidc: OidcSettings, claims: dict[str, Any]) -> str | None:
    """The highest role the ``role_claim`` gives (through ``roles``, or a role's own
    name), else ``default_role``."""
    found: list[str] = []
    if oidc.role_claim:
        values = claims.get(oidc.role_claim)
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str):
                continue
            role = oidc.roles.get(value) or (value if not oidc.roles and value in ROLES else None)
            if role:
                found.append(role)
    if found:
        return max(found, key=ROLES.index)
    return oidc.default_role


def _settings(request: Request) -> OidcSettings:
    config = context_of(request).config()
    oidc = config.settings.oidc if config is not None else None
    if oidc is None:
        raise OidcError("OIDC sign-in is not configured (settings.oidc)")
    return oidc


def _oidc(request: Request) -> OidcClient:
    return request.app.state.oidc


@router.get("/login/oidc")
async def oidc_start(request: Request, next: str = "/") -> Response:
    """Off to the provider: state, nonce and the PKCE verifier kept here."""
    from watcher.web.pages import error_page

    try:
        oidc = _settings(request)
        client = _oidc(request).client(oidc)
        key, flow = _oidc(request).flows.new()
        flow["next"] = safe_next(next)
        request.scope["session"] = flow
        response = await client.authorize_redirect(request, str(request.url_for("oidc_callback")))
    except OidcError as exc:
        return error_page(request, 503, str(exc))
    except Exception as exc:  # the provider unreachable, its discovery document wrong
        log.warning("OIDC sign-in not started: %s", exc)
        return error_page(request, 502, f"the OIDC provider {oidc.issuer} did not answer: {exc}")
    response.set_cookie(
        FLOW_COOKIE, key, max_age=FLOW_MINUTES * 60, httponly=True, samesite="lax",
        secure=request.url.scheme == "https", path="/login/oidc",
    )  # fmt: skip
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    """Back from the provider: the code exchanged (with the PKCE verifier), the ID
    token's signature, issuer, audience and nonce checked, then a session."""
    from watcher.web.pages import error_page

    guard: Guard = request.app.state.guard
    flow = _oidc(request).flows.take(request.cookies.get(FLOW_COOKIE))
    if flow is None:
        return error_page(request, 400, "this OIDC sign-in expired or was not started here")
    try:
        oidc = _settings(request)
        client = _oidc(request).client(oidc)
        request.scope["session"] = flow
        token = await client.authorize_access_token(request)
    except OidcError as exc:
        return error_page(request, 503, str(exc))
    except Exception as exc:  # Authlib's and joserfc's errors: a refused ID token
        log.warning("OIDC sign-in refused: %s", exc)
        return error_page(request, 401, f"OIDC sign-in refused: {exc}")
    claims = dict(token.get("userinfo") or {})
    if not claims:
        return error_page(request, 401, "OIDC sign-in refused: the provider sent no ID token")
    name = str(claims.get(oidc.name_claim) or claims.get("sub") or "")
    try:
        user, account_id = _account(guard, oidc, name, claims)
    except OidcError as exc:
        return error_page(request, 403, str(exc))
    session = guard.start_session(request, user, account_id, f"OIDC ({oidc.issuer})")
    # a page, not a redirect: a SameSite=Strict cookie set in a chain of redirects begun
    # on the provider's site is not sent by browsers until a navigation from this site
    target = escape(safe_next(flow.get("next")))
    response = HTMLResponse(
        f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
        f"<title>Signed in — watcher</title><p>Signed in as {escape(user.name)}: "
        f'<a href="{target}">continue</a>.</p>'
    )
    guard.set_session_cookie(response, request, session)
    response.delete_cookie(FLOW_COOKIE, path="/login/oidc")
    return response


def _account(
    guard: Guard, oidc: OidcSettings, name: str, claims: dict[str, Any]
) -> tuple[User, int]:
    """The account ``name`` signs in as: made on first sign-in, its role kept in step
    with the role claim."""
    role = role_of(oidc, claims)
    try:
        account = guard.accounts.get(name)
        if account is None:
            if role is None:
                raise OidcError(
                    f"{name!r} has no role here: the ID token gives none "
                    f"(settings.oidc.role_claim) and settings.oidc.default_role is unset"
                )
            account = guard.accounts.add(name, role, None, guard.clock.now())
            guard.record(User(name, role), "user add", name, f"{role}, by OIDC")
        elif role is not None and oidc.role_claim and role != account.role:
            guard.accounts.set_role(name, role)
            guard.record(User(name, role), "user role", name, f"{role}, by OIDC")
            account = guard.accounts.get(name)
    except StoreError as exc:
        raise OidcError(f"{name!r} not signed in: {exc}") from None
    if account is None or account.disabled:
        raise OidcError(f"{name!r} may not sign in here")
    return User(account.name, account.role), account.id
