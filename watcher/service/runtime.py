"""The one wiring: the parts of a running watcher, built from the config once.

``watcher check``, ``test``, ``run`` and ``serve`` all start here, so a part added
to the pipeline is wired in one place, and the clock given here is the one the
checks, politeness, the browser's cookies and the scheduler go by.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from watcher.analysis.workers import Analyzer, make_analyzer
from watcher.check.options import browser_settings
from watcher.check.pages import Pages
from watcher.check.run import run_document, run_once
from watcher.config import Config, Target
from watcher.core.clock import SYSTEM_CLOCK, Clock
from watcher.core.models import CheckResult
from watcher.fetch.client import Fetcher, FetchSettings
from watcher.fetch.politeness import Politeness
from watcher.fetch.session import BrowserSession
from watcher.listings.follow import DeferDocuments
from watcher.store.blobs import BlobLocation
from watcher.store.index import Store

if TYPE_CHECKING:
    from watcher.alerts.alerter import Alerter
    from watcher.alerts.compose import Composer
    from watcher.alerts.send import Channels, Sender

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Paths:
    """Where a watcher's files are: the config, the store, the channels."""

    config: Path
    data: Path
    notifiers: Path
    blobs: BlobLocation | None = None  # None: blobs/ in the data folder
    index: str | None = None  # the team store's postgresql:// URL; None: index.sqlite in data


def fetch_settings(config: Config) -> FetchSettings:
    s = config.settings
    return FetchSettings(concurrency=s.concurrency, per_host=s.per_host, host_delay=s.host_delay)


def composer_of(config: Config, notifiers: Path) -> Composer:
    """Message templates: the shipped ones, or the user's from ``notifiers/templates``."""
    from watcher.alerts.compose import Composer

    return Composer(config.settings.base_url, notifiers / "templates")


class Runtime:
    """Store, fetcher, browser, analysis workers, composer, sender and clock of one
    process. ``channels`` None: alerts are neither made nor sent (``--no-notify``).

    ``queue_alerts``: make alerts even while there are no channels. The service does,
    since a reload may add channels and the outbox keeps what was queued; a one-off
    ``check`` without channels could only mark them undeliverable, so it makes none
    and loads neither the templates (Jinja2) nor apprise.
    """

    def __init__(
        self,
        config: Config,
        paths: Paths,
        store: Store,
        *,
        channels: Channels | None = None,
        clock: Clock = SYSTEM_CLOCK,
        fetch: FetchSettings | None = None,
        queue_alerts: bool = False,
        politeness: Politeness | None = None,
    ) -> None:
        """``politeness``: limits shared with other processes (``watcher worker``);
        default: this process's own."""
        self.config = config
        self.paths = paths
        self.store = store
        self.clock = clock
        self.channels = channels
        self.fetcher = Fetcher(fetch or fetch_settings(config), clock=clock, politeness=politeness)
        self.browser = BrowserSession(browser_settings(config.settings.browser), clock)
        self.pages = Pages(self.fetcher, self.browser)
        self.composer: Composer | None = None
        self.alerts: Alerter | None = None
        if channels is not None and (channels or queue_alerts):
            self._compose(config)
        self.analyzer: Analyzer | None = None  # a long-lived one, see ``keep_analyzer``
        self._sender: Sender | None = None

    def _compose(self, config: Config) -> None:
        from watcher.alerts.alerter import Alerter

        self.composer = composer_of(config, self.paths.notifiers)
        self.alerts = Alerter(self.composer, config.settings.digest)

    def reconfigure(self, config: Config, channels: Channels) -> Analyzer | None:
        """Take a reloaded config and channels for the checks from now on.

        Returns the analysis workers retired because the keywords changed (checks
        still running use them; the caller closes them once those are done). Fetch
        limits stay as they were: the fetcher's pools are shared by running checks.
        """
        old, self.config, self.channels = self.config, config, channels
        if self.alerts is not None:
            self._compose(config)
            if self._sender is not None:
                assert self.composer is not None
                s = config.settings
                self._sender.configure(
                    channels,
                    self.composer,
                    max_age=s.outbox_max_age,
                    digests=dict(s.digest),
                    send_timeout=s.send_timeout,
                )
        if config.settings != old.settings:
            log.info("settings changed; fetch limits apply to new requests after restart")
        if config.keywords == old.keywords or self.analyzer is None:
            return None
        retired, self.analyzer = self.analyzer, None
        self.keep_analyzer()
        return retired

    def keep_analyzer(self) -> Analyzer:
        """Analysis workers kept between cycles (the service); ``check`` makes its own."""
        if self.analyzer is None:
            self.analyzer = make_analyzer(
                self.config.keywords, self.store.blobs.location, pages=len(self.config.targets)
            )
        return self.analyzer

    @property
    def sender(self) -> Sender:
        if self._sender is None:
            from watcher.alerts.send import Sender

            assert self.channels is not None and self.composer is not None, "no channels"
            self._sender = Sender.from_settings(
                self.store.outbox,
                self.channels,
                self.composer,
                self.config.settings,
                clock=self.clock.now,
                blobs=self.store.blobs,
            )
        return self._sender

    async def check(
        self,
        targets: Sequence[Target] | None = None,
        on_result: Callable[[CheckResult], None] | None = None,
        *,
        on_messages: Callable[[], None] | None = None,
        defer_documents: DeferDocuments | None = None,
    ) -> list[CheckResult]:
        """Check these targets (default: all) once, with this runtime's parts;
        ``defer_documents``: listings' documents go to it (the job queue)."""
        return await run_once(
            self.config,
            self.store,
            self.pages,
            targets,
            on_result,
            alerts=self.alerts,
            on_messages=on_messages,
            analyzer=self.analyzer,
            clock=self.clock,
            defer_documents=defer_documents,
        )

    async def check_document(
        self,
        listing: Target,
        name: str,
        *,
        defer_documents: DeferDocuments,
        on_messages: Callable[[], None] | None = None,
    ) -> bool:
        """One document of a listing checked by its own job; False: no such document."""
        return await run_document(
            self.config,
            self.store,
            self.pages,
            listing,
            name,
            analyzer=self.keep_analyzer(),
            defer_documents=defer_documents,
            alerts=self.alerts,
            on_messages=on_messages,
            clock=self.clock,
        )

    async def deliver(self, budget: float) -> None:
        """One bounded pass over the outbox: what a check or a retry just queued."""
        if self.channels is None:
            return
        try:
            await asyncio.wait_for(self.sender.deliver_due(), timeout=budget)
        except TimeoutError:
            log.warning("alerts: still sending after %.0f s; the rest stay in the outbox", budget)

    async def aclose(self, *, abandon: bool = False) -> None:
        """Close what this runtime started; the store stays its opener's to close.
        ``abandon``: pages still being analysed are not waited for (a stop)."""
        try:
            await self.fetcher.aclose()
            await self.browser.close()
        finally:
            if self.analyzer is not None:
                self.analyzer.close(abandon=abandon)
                self.analyzer = None

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
