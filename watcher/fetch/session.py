"""The shared browser, started on first use, and the cookies its visits earned.

Cookies a challenge set are kept per host until they expire, so that plain HTTP
requests of targets with ``cookies_from_browser`` get through after one visit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from watcher.core.clock import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from watcher.fetch.browser import BrowserPool
    from watcher.fetch.visits import BrowserSettings


class BrowserSession:
    """One browser pool for every browser target, and the cookie jar its visits fill."""

    def __init__(
        self, settings: BrowserSettings | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._pool: BrowserPool | None = None
        self._cookies: dict[str, dict[str, tuple[str, float | None]]] = {}

    def pool(self) -> BrowserPool:
        """The pool, launched lazily: most configs have no browser target."""
        if self._pool is None:
            from watcher.fetch.browser import BrowserPool
            from watcher.fetch.visits import BrowserSettings

            self._pool = BrowserPool(self.settings or BrowserSettings())
        return self._pool

    def remember(self, cookies: list[dict[str, Any]]) -> None:
        for cookie in cookies:
            host = str(cookie.get("domain", "")).lower().lstrip(".")
            expires = cookie.get("expires")
            until = float(expires) if isinstance(expires, int | float) and expires > 0 else None
            self._cookies.setdefault(host, {})[str(cookie["name"])] = (str(cookie["value"]), until)

    def cookies_for(self, url: str) -> dict[str, str]:
        host = (urlsplit(url).hostname or "").lower()
        now = self.clock.now().timestamp()
        found: dict[str, str] = {}
        for domain, jar in self._cookies.items():
            if host == domain or host.endswith("." + domain):
                found.update(
                    {n: v for n, (v, until) in jar.items() if until is None or until > now}
                )
        return found

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
