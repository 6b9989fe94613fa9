"""Events → outbox rows: which messages an event makes, and for which tags.

The outbox stores plain rows and knows nothing of events or composing; this is
where a composed event becomes the messages queued for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from watcher.alerts.compose import Composed
from watcher.alerts.events import Event
from watcher.store.outbox import NewMessage


def plan(event: Event, composed: Composed, digests: Mapping[str, float]) -> list[NewMessage]:
    """The messages an event makes: one for its tags sent at once, and one per tag
    that gathers its messages into a digest (``settings.digest``)."""
    waiting = [tag for tag in event.notify if tag in digests]
    direct = tuple(tag for tag in event.notify if tag not in digests)
    out = []
    if direct or not event.notify:
        out.append(_new(event, composed, direct, None))
    out.extend(_new(event, composed, (tag,), tag) for tag in waiting)
    return out


def digest(tag: str, composed: Composed, now: datetime) -> NewMessage:
    """The message that carries a tag's gathered messages."""
    return NewMessage(
        "digest",
        None,
        None,
        (tag,),
        composed.title,
        composed.text,
        composed.html,
        composed.markdown,
        now,
    )


def _new(
    event: Event, composed: Composed, tags: tuple[str, ...], digest_tag: str | None
) -> NewMessage:
    return NewMessage(
        kind=event.kind,
        target=event.target or None,
        capture_id=event.capture_id,
        tags=tags,
        title=composed.title,
        body_text=composed.text,
        body_html=composed.html,
        body_markdown=composed.markdown,
        created_at=event.at,
        digest_tag=digest_tag,
        attachment_sha256=event.attachment_sha256,
    )
