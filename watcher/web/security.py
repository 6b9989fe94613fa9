"""Who may see the UI, and what every response tells the browser.

With ``WATCHER_PASSWORD`` set, every page and API call needs it: HTTP Basic
(any user name) for programs, or a session cookie from ``/login`` for people.
POSTs carry a CSRF token (a form field or ``X-CSRF-Token``) whatever the
password, since a page elsewhere could otherwise make a browser post to a UI
on 127.0.0.1. Archived pages are hostile: they are only ever served with
``Content-Security-Policy: sandbox`` and no scripts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

SESSION_COOKIE = "watcher_session"
SESSION_DAYS = 14
OPEN_PATHS = ("/healthz", "/login", "/static/")

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


class Guard:
    """Password check, sessions and CSRF tokens for one app."""

    def __init__(self, password: str | None) -> None:
        self.password = password or None
        seed = (password or "").encode() if password else os.urandom(32)
        self._key = hashlib.sha256(b"watcher-web:" + seed).digest()

    # -- sessions ---------------------------------------------------------------------

    def new_session(self) -> str:
        expires = str(int(time.time()) + SESSION_DAYS * 86400)
        return f"{expires}.{self._sign(expires)}"

    def _valid_session(self, value: str | None) -> bool:
        if not value or "." not in value:
            return False
        expires, signature = value.split(".", 1)
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(signature, self._sign(expires))

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def password_ok(self, given: str) -> bool:
        return self.password is not None and hmac.compare_digest(
            given.encode(), self.password.encode()
        )

    def authenticated(self, request: Request) -> bool:
        if self.password is None:
            return True
        if self._valid_session(request.cookies.get(SESSION_COOKIE)):
            return True
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                _user, _, given = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return self.password_ok(given)
        return False

    # -- CSRF -------------------------------------------------------------------------

    def csrf_token(self, request: Request) -> str:
        session = request.cookies.get(SESSION_COOKIE, "")
        return self._sign("csrf:" + session)

    def csrf_ok(self, request: Request, given: str | None) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != _own_origin(request):
            return False
        return bool(given) and hmac.compare_digest(given or "", self.csrf_token(request))

    # -- middleware -------------------------------------------------------------------

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith(OPEN_PATHS) and not self.authenticated(request):
            response = self._refuse(request)
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response

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


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def safe_next(value: str | None) -> str:
    """Only local paths after login: ``//evil`` and ``http://evil`` become ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
