"""What an SMTP server answered during a send.

apprise tells only whether an email went out, and logs smtplib's exceptions at
debug level in words that change between its versions. Every reply smtplib reads
goes through ``smtplib.SMTP.getreply``, a method as old as the module; while a
thread listens, that method also notes each reply for the thread, so the sender
can tell a permanent refusal (5xx) from a temporary one (4xx), and a message the
server took whole but never confirmed (the connection lost after the body was
sent) from one that never got there.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_local = threading.local()


@dataclass
class Conversation:
    """The replies of the SMTP sessions of one send."""

    replies: list[tuple[int, str]] = field(default_factory=list)
    lost_verdict: str | None = None  # why the reply to a whole message never came
    lost_reason: str | None = None  # why the last connection ended without a reply
    _body_next: bool = False  # a 354 came: the next reply judges the whole message

    def refusal(self) -> tuple[int, str] | None:
        """The server's last refusal (4xx or 5xx), if it gave one. 500-504 answer a
        command, not the message: smtplib meets them when it falls back from EHLO."""
        errors = [r for r in self.replies if r[0] >= 400 and not 500 <= r[0] <= 504]
        return errors[-1] if errors else None

    def heard(self, code: int, text: bytes) -> None:
        self._body_next = code == 354
        self.replies.append((code, " ".join(text.decode("utf-8", "replace").split())))

    def lost(self, why: str) -> None:
        self.lost_reason = why
        if self._body_next:
            self.lost_verdict = why
        self._body_next = False


_original = smtplib.SMTP.getreply


def _getreply(self: smtplib.SMTP) -> tuple[int, bytes]:
    conversation: Conversation | None = getattr(_local, "conversation", None)
    if conversation is None:
        return _original(self)
    try:
        code, text = _original(self)
    except smtplib.SMTPServerDisconnected as exc:
        conversation.lost(str(exc))
        raise
    conversation.heard(code, text)
    return code, text


smtplib.SMTP.getreply = _getreply  # type: ignore[method-assign]


@contextmanager
def listening() -> Iterator[Conversation]:
    """Note the SMTP replies this thread reads until the block ends."""
    conversation = Conversation()
    previous: Any = getattr(_local, "conversation", None)
    _local.conversation = conversation
    try:
        yield conversation
    finally:
        _local.conversation = previous
