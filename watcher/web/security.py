"""Who may see the UI, and what every response tells the browser.

Only known host names are answered (see ``watcher.web.hosts``: DNS rebinding). With
``WATCHER_PASSWORD`` set, every page and API call needs it: HTTP Basic (any user
name) for programs, or a session cookie from ``/login`` for people. Sessions live
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
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from argon2 import PasswordHasher
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from watcher.core.clock import Clock
from watcher.store.index import StoreError
from watcher.store.websec import WebAuthStore
from watcher.web import hosts
from watcher.web.passwords import Password
from watcher.web.ratelimit import LoginLimiter

log = logging.getLogger(__name__)

SESSION_COOKIE = "watcher_session"
CSRF_COOKIE = "watcher_csrf"  # the random value a login form's token is bound to
SESSION_DAYS = 14
OPEN_PATHS = ("/healthz", "/login", "/static/", "/favicon.ico")
_LONGEST_COOKIE = 128  # characters; anything longer is not one of ours
_UNSET = object()

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
    ) -> None:
        """``password``: the clear text, hashed here and not kept. ``allowed_hosts``:
        the host names answered besides the loopback ones (read at every request, so
        a reloaded config counts)."""
        self.auth = auth
        self.clock = clock
        self.allowed_hosts = allowed_hosts
        self.limiter = limiter or LoginLimiter(clock)
        self.password = Password.adopt(password, auth, clock, hasher) if password else None
        self._trying = threading.Lock()  # one argon2 check at a time: each takes 64 MB

    # -- passwords --------------------------------------------------------------------

    def try_password(self, address: str, given: str) -> Attempt:
        """Check ``given`` unless ``address`` (or everyone) must wait; the wait and the
        check happen under one lock, so parallel guesses cannot slip past the limit."""
        if self.password is None:
            return Attempt(False)
        with self._trying:
            wait = self.limiter.retry_after(address)
            if wait:
                return Attempt(False, wait)
            if self.password.matches(given):
                self.limiter.succeeded(address)
                return Attempt(True)
            self.limiter.failed(address)
        log.warning("wrong web UI password from %s", address)
        return Attempt(False)

    def log_in(self, request: Request, given: str) -> Attempt:
        """The login form's password: on success a new session, stored."""
        attempt = self.try_password(_address(request), given)
        if not attempt.ok:
            return attempt
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        self.auth.add_session(_session_id(token), now, now + timedelta(days=SESSION_DAYS))
        return Attempt(True, session=token)

    def log_out(self, request: Request) -> None:
        """End the request's session for good: its cookie is refused from now on."""
        session = self._session(request)
        if session is not None:
            self.auth.end_session(session)
        request.state.session = None

    # -- sessions ---------------------------------------------------------------------

    def _session(self, request: Request) -> str | None:
        """The id of the request's live session, looked up once per request."""
        session = getattr(request.state, "session", _UNSET)
        if session is _UNSET:
            session = self._live_session(request.cookies.get(SESSION_COOKIE))
            request.state.session = session
        return session  # type: ignore[return-value]

    def _live_session(self, token: str | None) -> str | None:
        if self.password is None or not token or len(token) > _LONGEST_COOKIE:
            return None
        session = _session_id(token)
        try:
            expires = self.auth.session_expires(session)
            if expires is None:
                return None
            if expires <= self.clock.now():
                self.auth.end_session(session)
                return None
        except StoreError as exc:
            log.warning("session not checked: %s", exc)
            return None
        return session

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
        if self.password is None or self._session(request) is not None:
            return Attempt(True)
        given = _basic_password(request.headers.get("authorization", ""))
        if given is None:
            return Attempt(False)
        # argon2 takes a good part of a second: off the event loop the service shares
        return await asyncio.to_thread(self.try_password, _address(request), given)

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


def _basic_password(header: str) -> str | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        _user, _, given = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return given


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
