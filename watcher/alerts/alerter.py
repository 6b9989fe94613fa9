"""A check's events into outbox messages: each composed once, then planned per tag
(sent at once, or gathered into a tag's digest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from watcher.alerts.compose import Composer
from watcher.alerts.events import Event
from watcher.alerts.plan import plan
from watcher.store.outbox import NewMessage


class Alerter:
    """The callable a check is given to turn what it found into messages."""

    def __init__(self, composer: Composer, digests: Mapping[str, float]) -> None:
        self.composer = composer
        self.digests = dict(digests)

    def __call__(self, found: Sequence[Event]) -> list[NewMessage]:
        return [m for e in found for m in plan(e, self.composer.compose(e), self.digests)]
