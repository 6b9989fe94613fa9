"""Who may see the UI, and what every response tells the browser.

Only known host names are answered (see ``watcher.web.hosts``: DNS rebinding). With
accounts in the store (``watcher user add``), a login proxy or OIDC configured, or
``WATCHER_PASSWORD`` set (the one-user shortcut: an admin named "admin"), every page
and API call needs a sign-in: HTTP Basic (user:password; any user name for the
shortcut) for programs, or a session cookie from ``/login`` for people; whoever it
is ends up as a ``User`` on ``request.state.user`` (``watcher.web.identity``). The
proxy's user header is believed only from ``settings.trusted_proxies``. Sessions live
in the store under random ids, so logging out ends them and a restart keeps them;
wrong passwords are rate-limited per client address and over all
(``watcher.web.ratelimit``). POSTs carry a CSRF token (a form field or
``X-CSRF-Token``) whatever the password, since a page elsewhere could otherwise make
a browser post to a UI on 127.0.0.1; tokens are HMACs, under the store's random
key, of the session or, before login, of a random value in a cookie: never of
anything the password gives away. Archived pages are hostile: they are only ever
served with ``Content-Security-Policy: sandbox`` and no scripts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from argon2 import PasswordHasher
from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from watcher.config import Settings
from watcher.core.clock import Clock
from watcher.store.accounts import Account
from watcher.store.index import StoreError
from watcher.store.websec import WebAuthStore
from watcher.web import hosts
from watcher.web.identity import User
from watcher.web.passwords import AccountPasswords, Password
from watcher.web.ratelimit import LoginLimiter

log = logging.getLogger(__name__)

SESSION_COOKIE = "watcher_session"
CSRF_COOKIE = "watcher_csrf"  # the random value a login form's token is bound to
SESSION_DAYS = 14
OPEN_PATHS = ("/healthz", "/login", "/static/", "/favicon.ico")
_LONGEST_COOKIE = 128  # characters; anything longer is not one of ours
_UNSET = object()
SHORTCUT_USER = User(name="admin", role="admin")  # who WATCHER_PASSWORD signs in

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# an archived page: no scripts, no forms, no plugins, its own opaque origin, and no
# requests anywhere (its images and styles on the original site stay unloaded)
ARCHIVE_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on
    # form posts, which the CSRF check rightly refuses; other sites still get nothing
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Attempt:
    """What came of a password tried: right or wrong, or not tried (``retry_after`` s)."""

    ok: bool
    retry_after: int = 0
    session: str | None = None  # a login's new session: the cookie's value
    user: User | None = None  # who the password is of
    account_id: int | None = None  # their row in `users` (None: the shortcut)


class Guard:
    """Host names, password, sessions and CSRF tokens for one app."""

    def __init__(
        self,
        auth: WebAuthStore,
        password: str | None,
        *,
        clock: Clock,
        allowed_hosts: Callable[[], Iterable[str]] = tuple,
        hasher: PasswordHasher | None = None,
        limiter: LoginLimiter | None = None,
        settings: Callable[[], Settings | None] = lambda: None,
    ) -> None:
        """``password``: the clear text, hashed here and not kept. ``allowed_hosts``:
        the host names answered besides the loopback ones (read at every request, so
        a reloaded config counts). ``settings``: the config's, for the login proxy and
        OIDC (also read at every request)."""
        self.auth = auth
        self.clock = clock
        self.allowed_hosts = allowed_hosts
        self.limiter = limiter or LoginLimiter(clock)
        self.password = Password.adopt(password, auth, clock, hasher) if password else None
        self.accounts = auth.accounts
        self.account_passwords = AccountPasswords(hasher)
        self.settings = settings
        self._trying = threading.Lock()  # one argon2 check at a time: each takes 64 MB

    # -- passwords --------------------------------------------------------------------

    def sign_in_configured(self) -> bool:
        """Whether anyone must sign in: a password, accounts, a login proxy or OIDC.
        Without any, whoever reaches the UI is the local admin."""
        if self.password is not None:
            return True
        settings = self.settings()
        if settings is not None and (settings.trusted_proxies or settings.oidc is not None):
            return True
        if not self.auth.exists():
            return False
        try:
            return self.accounts.any()
        except StoreError as exc:  # accounts may exist: refuse rather than open the UI
            log.warning("cannot tell whether accounts exist, so a sign-in is needed: %s", exc)
            return True

    def has_accounts(self) -> bool:
        """Whether the store holds any user (the login form then asks for a name)."""
        try:
            return self.auth.exists() and self.accounts.any()
        except StoreError:
            return False

    def try_password(self, address: str, given: str, name: str = "") -> Attempt:
        """Check ``given`` (of account ``name``, or else the shortcut's password) unless
        ``address`` (or everyone) must wait; the wait and the check happen under one
        lock, so parallel guesses cannot slip past the limit."""
        with self._trying:
            wait = self.limiter.retry_after(address)
            if wait:
                return Attempt(False, wait)
            found = self._check(name, given)
            if found is not None:
                self.limiter.succeeded(address)
                return Attempt(True, user=found[0], account_id=found[1])
            self.limiter.failed(address)
        who = f" for user {name!r}" if name else ""
        log.warning("wrong web UI password%s from %s", who, address)
        return Attempt(False)

    def _check(self, name: str, given: str) -> tuple[User, int | None] | None:
        account: Account | None = None
        if name:
            try:
                account = self.accounts.get(name)
            except StoreError as exc:
                log.warning("account %r not checked: %s", name, exc)
        if account is not None or (name and self.password is None):
            usable = account is not None and not account.disabled
            encoded = account.password_hash if usable and account else None
            if not self.account_passwords.matches(name, encoded, given) or account is None:
                return None
            return User(account.name, account.role), account.id
        if self.password is not None and self.password.matches(given):
            return SHORTCUT_USER, None
        return None

    def log_in(self, request: Request, given: str, name: str = "") -> Attempt:
        """The login form's user name and password: on success a new session, stored."""
        attempt = self.try_password(_address(request), given, name)
        if not attempt.ok or attempt.user is None:
            return attempt
        token = self.start_session(request, attempt.user, attempt.account_id, "password")
        return Attempt(True, session=token, user=attempt.user, account_id=attempt.account_id)

    def start_session(self, request: Request, user: User, account_id: int | None, how: str) -> str:
        """A new stored session for ``user`` (signed in by ``how``): the cookie's value.
        The sign-in is recorded in the audit."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        self.auth.add_session(
            _session_id(token), now, now + timedelta(days=SESSION_DAYS), account_id
        )
        if account_id is not None:
            self.accounts.logged_in(account_id, now)
        self.record(user, "sign in", user.name, f"{how}, from {_address(request)}")
        return token

    def log_out(self, request: Request) -> None:
        """End the request's session for good: its cookie is refused from now on."""
        signed = self._signed_in(request)
        if signed is not None:
            self.auth.end_session(signed[0])
            self.record(signed[1], "sign out", signed[1].name, f"from {_address(request)}")
        request.state.signed_in = None

    def record(self, user: User, action: str, subject: str, detail: str = "") -> None:
        """Keep who did what in the audit; a store that cannot is logged, not fatal."""
        try:
            self.accounts.record_action(user.name, action, subject, detail, self.clock.now())
        except StoreError as exc:
            log.warning("not recorded (%s %s by %s): %s", action, subject, user.name, exc)

    # -- sessions ---------------------------------------------------------------------

    def signed_in(self, request: Request) -> User | None:
        """The user of the request's live session (one that can log out), if any."""
        signed = self._signed_in(request)
        return signed[1] if signed else None

    def _session(self, request: Request) -> str | None:
        signed = self._signed_in(request)
        return signed[0] if signed else None

    def _signed_in(self, request: Request) -> tuple[str, User] | None:
        """The id and user of the request's live session, looked up once per request."""
        signed = getattr(request.state, "signed_in", _UNSET)
        if signed is _UNSET:
            signed = self._live_session(request.cookies.get(SESSION_COOKIE))
            request.state.signed_in = signed
        return signed  # type: ignore[return-value]

    def _live_session(self, token: str | None) -> tuple[str, User] | None:
        if not token or len(token) > _LONGEST_COOKIE or not self.auth.exists():
            return None
        session = _session_id(token)
        try:
            found = self.auth.session(session)
            if found is None:
                return None
            expires, account_id = found
            if expires <= self.clock.now():
                self.auth.end_session(session)
                return None
            user = self._user_of(account_id)
        except StoreError as exc:
            log.warning("session not checked: %s", exc)
            return None
        return (session, user) if user is not None else None

    def _user_of(self, account_id: int | None) -> User | None:
        if account_id is None:  # a session of the shortcut: valid while it is on
            return SHORTCUT_USER if self.password is not None else None
        account = self.accounts.by_id(account_id)
        if account is None or account.disabled:
            return None
        return User(account.name, account.role)

    # -- the login proxy --------------------------------------------------------------

    def proxy_user(self, request: Request) -> User | None:
        """The user the login proxy names in ``settings.trusted_user_header``: believed
        only from ``settings.trusted_proxies``; an unknown name is refused unless
        ``settings.trusted_default_role`` makes them a user."""
        settings = self.settings()
        if settings is None or not settings.trusted_proxies:
            return None
        name = request.headers.get(settings.trusted_user_header, "").strip()
        if not name:
            return None
        address = _address(request)
        if not _within(address, settings.trusted_proxies):
            log.warning(
                "%s header from %s ignored: not in settings.trusted_proxies",
                settings.trusted_user_header, address,
            )  # fmt: skip
            return None
        try:
            account = self.accounts.get(name)
            if account is None and settings.trusted_default_role is not None:
                role = settings.trusted_default_role
                account = self.accounts.add(name, role, None, self.clock.now())
                self.record(User(name, role), "user add", name, f"{role}, named by the proxy")
        except StoreError as exc:
            log.warning("user %r named by the proxy not signed in: %s", name, exc)
            return None
        if account is None or account.disabled:
            log.warning("the proxy names %r, who is no user here (`watcher user add`)", name)
            return None
        return User(account.name, account.role)

    def set_session_cookie(self, response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=SESSION_DAYS * 86400,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    # -- CSRF -------------------------------------------------------------------------

    def csrf_token(self, request: Request) -> str:
        """The token a form of this page carries: bound to the session, or before login
        to a random value in a cookie (set on the response); "" when the store cannot
        give its key (every POST is then refused)."""
        binding = self._csrf_binding(request, create=True)
        try:
            return self._sign(binding) if binding else ""
        except StoreError as exc:
            log.warning("no CSRF token: %s", exc)
            return ""

    def require_csrf(self, request: Request, given: str | None) -> None:
        """A POST's token (its form field, else the ``X-CSRF-Token`` header the page's
        scripts send), or a 403 that says what to do."""
        if not self.csrf_ok(request, given or request.headers.get("x-csrf-token")):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")

    def csrf_ok(self, request: Request, given: str | None) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != _own_origin(request):
            return False
        binding = self._csrf_binding(request, create=False)
        if not given or binding is None:
            return False
        try:
            return hmac.compare_digest(given, self._sign(binding))
        except StoreError:
            return False

    def _csrf_binding(self, request: Request, *, create: bool) -> str | None:
        session = self._session(request)
        if session is not None:
            return "session:" + session
        seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_seed", None)
        if seed and len(seed) <= _LONGEST_COOKIE:
            return "login:" + seed
        if not create:
            return None
        seed = secrets.token_urlsafe(32)
        request.state.new_csrf_seed = seed
        return "login:" + seed

    def _sign(self, value: str) -> str:
        key = self.auth.key(self.clock.now())
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    # -- middleware -------------------------------------------------------------------

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not hosts.allowed(request.headers.get("host"), self.allowed_hosts()):
            response = _wrong_host(request)
        elif request.url.path.startswith(OPEN_PATHS):
            request.state.user = self.proxy_user(request) or self.signed_in(request)
            response = await call_next(request)
        else:
            attempt = await self._authenticated(request)
            if attempt.ok:
                response = await call_next(request)
            elif attempt.retry_after:
                response = _too_many(request, attempt.retry_after)
            else:
                response = self._refuse(request)
        seed = getattr(request.state, "new_csrf_seed", None)
        if seed:
            response.set_cookie(
                CSRF_COOKIE, seed, httponly=True, samesite="strict",
                secure=request.url.scheme == "https",
            )  # fmt: skip
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

    async def _authenticated(self, request: Request) -> Attempt:
        """Who the request is of, on ``request.state.user``: the proxy's user, a
        session's, or HTTP Basic's; nobody needed when no sign-in is configured."""
        user = self.proxy_user(request) or self.signed_in(request)
        if user is not None:
            request.state.user = user
            return Attempt(True, user=user)
        if not self.sign_in_configured():
            return Attempt(True)  # request.state.user stays unset: the local admin
        credentials = _basic_credentials(request.headers.get("authorization", ""))
        if credentials is None:
            return Attempt(False)
        # argon2 takes a good part of a second: off the event loop the service shares
        name, given = credentials
        attempt = await asyncio.to_thread(self.try_password, _address(request), given, name)
        if attempt.ok:
            request.state.user = attempt.user
        return attempt

    def _refuse(self, request: Request) -> Response:
        path = request.url.path
        wants_html = "text/html" in request.headers.get("accept", "")
        if request.method == "GET" and wants_html and not path.startswith("/api/"):
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        if path.startswith("/api/"):
            response: Response = JSONResponse({"detail": "login required"}, status_code=401)
        else:
            response = PlainTextResponse("login required", status_code=401)
        response.headers["WWW-Authenticate"] = 'Basic realm="watcher", charset="UTF-8"'
        return response


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """HTTP Basic's user name and password."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        name, _, given = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return name, given


def _within(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)


def too_many_message(seconds: int) -> str:
    return f"too many wrong passwords: try again in {seconds} s"


def _too_many(request: Request, seconds: int) -> Response:
    message = too_many_message(seconds)
    if request.url.path.startswith("/api/"):
        response: Response = JSONResponse({"detail": message}, status_code=429)
    else:
        response = PlainTextResponse(message, status_code=429)
    response.headers["Retry-After"] = str(seconds)
    return response


def _wrong_host(request: Request) -> Response:
    name = hosts.host_name(request.headers.get("host")) or "(none)"
    return PlainTextResponse(
        f"400 Bad Request: this watcher does not answer to the host name {name!r} "
        "(it answers to 127.0.0.1, localhost, ::1, the host of settings.base_url and "
        "settings.allowed_hosts; add the name there if it is yours)\n",
        status_code=400,
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _session_id(token: str) -> str:
    """What the store keeps of a session cookie: its SHA-256, so that a copy of the
    index holds no session anyone could use."""
    return hashlib.sha256(token.encode()).hexdigest()


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def safe_next(value: str | None) -> str:
    """Only local paths after login: ``//evil`` and ``http://evil`` become ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
