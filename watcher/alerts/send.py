"""Messages → channels: apprise, driven from the outbox, with retries per channel.

Channels are apprise URLs with tags in ``notifiers/apprise.yml`` (apprise's own
YAML format); ``${VAR}`` in that file is read from the environment so that
secrets stay out of it. Each channel is sent to on its own thread with its own
backoff: a slow or failing channel never holds back another.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # a check without channels reads only find_config from here
    from watcher.alerts import smtp
    from watcher.alerts.compose import Composer
    from watcher.store.outbox import DeliveryRow, MessageRow, Outbox

log = logging.getLogger(__name__)

CONFIG_NAMES = ("apprise.yml", "apprise.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ChannelsError(Exception):
    """The channels file cannot be used; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Channel:
    key: str  # stable id: a hash of the full URL (secrets included, never shown)
    name: str  # the URL with secrets hidden, for people
    tags: frozenset[str]
    service: Any  # the apprise plugin instance
    secrets: Secrets = field(default_factory=lambda: Secrets())  # hidden in name and errors


class Channels:
    """The configured channels; empty when there is no channels file."""

    def __init__(self, channels: Sequence[Channel], source: Path | None = None) -> None:
        self.all = list(channels)
        self.by_key = {c.key: c for c in channels}
        self.source = source

    def __bool__(self) -> bool:
        return bool(self.all)

    def matching(self, tags: Sequence[str]) -> list[Channel]:
        """Channels for a message's tags; no tags means every channel (apprise's rule)."""
        if not tags:
            return list(self.all)
        wanted = set(tags)
        return [c for c in self.all if c.tags & wanted or "always" in c.tags]

    def tags(self) -> set[str]:
        return {t for c in self.all for t in c.tags}


def find_config(folder: Path) -> Path | None:
    for name in CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


class Secrets:
    """The values ``${VAR}`` put into the channels file: each is hidden (shown as
    ``${VAR}``) wherever a channel is named or its errors are told, in every form a
    URL may carry it (as given, or percent-encoded by apprise)."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        forms: dict[str, str] = {}
        for name, value in (values or {}).items():
            if value:
                for form in _encodings(value):
                    forms.setdefault(form, "${" + name + "}")
        self._forms = forms
        # longest first, in one pass: a value inside another, or inside a name shown, is
        # not replaced twice
        alternatives = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if forms else None

    def hide(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(lambda m: self._forms[m.group(0)], text)


def _encodings(value: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    once = {value, quote(value, safe=""), quote(value, safe="/"), quote_plus(value)}
    # some apprise versions encode a value already in the URL once more (% → %25)
    return once | {quote(form, safe="/") for form in once}


def expand_env(text: str, source: Path, environ: dict[str, str] | None = None) -> str:
    """``${VAR}`` → its value; a variable that is not set is an error naming its line."""
    return expand_env_secrets(text, source, environ)[0]


def expand_env_secrets(
    text: str, source: Path, environ: dict[str, str] | None = None
) -> tuple[str, Secrets]:
    """``expand_env``, and the values it put in, to be hidden wherever they would show."""
    env = os.environ if environ is None else environ
    missing = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        missing.extend((number, n) for n in _VAR.findall(line) if n not in env)
    if missing:
        number, name = missing[0]
        raise ChannelsError(
            f"{source}:{number}: environment variable {name} is not set "
            "(export it, or put it in the .env file the service reads)"
        )

    used: dict[str, str] = {}

    def value(match: re.Match[str]) -> str:
        used[match.group(1)] = env[match.group(1)]
        return env[match.group(1)]

    expanded = "\n".join(
        line if line.lstrip().startswith("#") else _VAR.sub(value, line)
        for line in text.splitlines()
    )
    return expanded, Secrets(used)


def load_channels(folder: Path) -> Channels:
    """Read ``apprise.yml`` from ``folder``; no file means no channels."""
    source = find_config(folder)
    if source is None:
        return Channels([], None)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChannelsError(f"{source}: cannot read: {exc}") from exc
    text, secrets = expand_env_secrets(text, source)
    import apprise

    config = apprise.AppriseConfig()
    with capture_apprise_log() as problems:
        if not config.add_config(text, format="yaml"):
            raise ChannelsError(f"{source}: not a valid apprise YAML configuration")
        services = list(config.services())
    problems = [secrets.hide(p) for p in problems]
    if problems and not services:
        raise ChannelsError(f"{source}: {'; '.join(problems)}")
    for problem in problems:
        log.warning("%s: %s", source, problem)
    return Channels([_channel(s, secrets) for s in services], source)


def _channel(service: Any, secrets: Secrets) -> Channel:
    full = service.url(privacy=False)
    return Channel(
        key=hashlib.sha256(full.encode()).hexdigest()[:16],
        # apprise hides what it knows to be secret (passwords, most tokens); what came
        # from the environment is hidden too (a token in a webhook's path, say)
        name=secrets.hide(service.url(privacy=True)),
        tags=frozenset(str(t) for t in service.tags),
        service=service,
        secrets=secrets,
    )


# --------------------------------------------------------------------------- apprise's log

_capture = threading.local()


class _ThreadCapture(logging.Handler):
    """Keeps apprise's warnings for the thread that asked: they say why a send failed."""

    def emit(self, record: logging.LogRecord) -> None:
        found = getattr(_capture, "records", None)
        if found is not None:
            found.append(record.getMessage())


_handler = _ThreadCapture(logging.WARNING)


@contextmanager
def capture_apprise_log() -> Iterator[list[str]]:
    logger = logging.getLogger("apprise")
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
        logger.propagate = False  # its messages reach people as our errors, once
    found: list[str] = []
    _capture.records = found
    try:
        yield found
    finally:
        _capture.records = None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a send failed, and what trying again would do.

    ``retry``: a temporary failure, tried again later. ``permanent``: the server
    refused the message for good (SMTP 5xx); the same message would be refused
    again. ``unconfirmed``: the server took the whole message and the connection
    ended before its verdict, so it may have arrived; sending it again may double it.
    """

    reason: str
    kind: Literal["retry", "permanent", "unconfirmed"] = "retry"


def send(
    channel: Channel,
    title: str,
    text: str,
    html: str,
    markdown: str,
    attachment: Path | None = None,
) -> Failure | None:
    """Send one message to one channel, in its best format; None, or why it failed."""
    from apprise import NotifyFormat, NotifyType

    from watcher.alerts import smtp

    fmt = getattr(channel.service, "notify_format", NotifyFormat.TEXT)
    if isinstance(fmt, tuple | list):  # apprise 2 lists what a plugin takes, best first
        fmt = fmt[0] if fmt else NotifyFormat.TEXT
    body, body_format = {
        NotifyFormat.HTML: (html, NotifyFormat.HTML),
        NotifyFormat.MARKDOWN: (markdown, NotifyFormat.MARKDOWN),
    }.get(fmt, (text, NotifyFormat.TEXT))
    with capture_apprise_log() as problems, smtp.listening() as conversation:
        try:
            extra = {"attach": str(attachment)} if attachment is not None else {}
            ok = channel.service.notify(
                body=body,
                title=title,
                notify_type=NotifyType.INFO,
                body_format=body_format,
                **extra,
            )
        except Exception as exc:  # a plugin bug must not stop the sender
            return Failure(channel.secrets.hide(f"{type(exc).__name__}: {exc}"))
    if ok:
        return None
    return _failure(conversation, channel.secrets.hide("; ".join(problems[-3:])), channel)


def _failure(conversation: smtp.Conversation, logged: str, channel: Channel) -> Failure:
    """The SMTP server's own words where it spoke; else what apprise logged."""
    if conversation.lost_verdict is not None:
        return Failure(
            "the server took the whole message, then the connection ended before its "
            f"reply ({conversation.lost_verdict}): it may have arrived; not sent again "
            "by itself (`watcher outbox --retry` sends it once more)",
            "unconfirmed",
        )
    refusal = conversation.refusal()
    if refusal is None:
        logged = logged or "the channel refused the message"
        lost = conversation.lost_reason
        return Failure(f"{logged} ({lost})" if lost else logged)
    code, words = refusal
    reply = channel.secrets.hide(f"SMTP {code} {words}".strip())
    if 500 <= code < 600:
        return Failure(f"{reply} (a permanent refusal: not tried again)", "permanent")
    return Failure(reply)


def limit_waits(channels: Channels, seconds: float) -> None:
    """Every network wait of a send (connecting, each answer) at most ``seconds``.

    apprise's email waits 15 s per answer; a hung server would hold a send, and a
    stopping service, that long for each of them."""
    for channel in channels.all:
        for name in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(channel.service, name):
                setattr(channel.service, name, seconds)


# --------------------------------------------------------------------------- the sender


class Sender:
    """Delivers what the outbox holds: digests, then due deliveries, per channel."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Channels,
        composer: Composer,
        *,
        max_age: float = 2 * 86400.0,
        digests: dict[str, float] | None = None,
        send_timeout: float = 5.0,
        clock: Any = lambda: datetime.now(UTC),
        blobs: Any = None,
    ) -> None:
        self.outbox = outbox
        self.blobs = blobs  # where attached screenshots are
        self.clock = clock
        self.configure(
            channels, composer, max_age=max_age, digests=digests, send_timeout=send_timeout
        )
        self.sent = 0
        self.failed_attempts = 0
        # deliveries being sent on a thread right now: a pass that starts before
        # they are recorded (a reload, the last pass at shutdown) must not send
        # them again
        self._in_flight: set[int] = set()
        self._in_flight_lock = threading.Lock()
        self._threads: set[asyncio.Future[None]] = set()  # sends on their threads
        self._closing = threading.Event()  # a thread takes no further delivery
        self._pass = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        outbox: Outbox,
        channels: Channels,
        composer: Composer,
        settings: Any,
        **options: Any,
    ) -> Sender:
        """A sender with the config's outbox settings (``settings``: ``Config.settings``)."""
        return cls(
            outbox,
            channels,
            composer,
            max_age=settings.outbox_max_age,
            digests=dict(settings.digest),
            send_timeout=settings.send_timeout,
            **options,
        )

    def configure(
        self,
        channels: Channels,
        composer: Composer,
        *,
        max_age: float = 2 * 86400.0,
        digests: dict[str, float] | None = None,
        send_timeout: float = 5.0,
    ) -> None:
        """New channels and settings (a reload), for the next pass."""
        limit_waits(channels, send_timeout)
        for channel in channels.all:  # deliveries recorded before secrets were hidden
            self.outbox.rename_channel(channel.key, channel.name, channel.secrets.hide)
        self.channels = channels
        self.composer = composer
        self.max_age = timedelta(seconds=max_age)
        self.digests = dict(digests or {})

    async def deliver_due(self) -> datetime | None:
        """One pass; returns when the next attempt or digest is due (None: nothing waits).

        Passes never overlap, and a delivery still on its thread (its pass was
        cancelled; the thread cannot be) is left out of later ones.
        """
        async with self._pass:
            now = self.clock()
            next_digest = self._gather_digests(now)
            self._expand(now)
            by_channel: dict[str, list[tuple[DeliveryRow, MessageRow]]] = {}
            with self._in_flight_lock:
                for delivery, message in self.outbox.due(now):
                    if delivery.id not in self._in_flight:
                        self._in_flight.add(delivery.id)
                        by_channel.setdefault(delivery.channel, []).append((delivery, message))
            if by_channel:
                await asyncio.gather(
                    *(self._on_thread(key, items) for key, items in by_channel.items())
                )
            upcoming = [t for t in (self.outbox.next_attempt(), next_digest) if t is not None]
            return min(upcoming) if upcoming else None

    def _on_thread(
        self, key: str, items: list[tuple[DeliveryRow, MessageRow]]
    ) -> asyncio.Future[None]:
        """``_send_all`` on a daemon thread of its own: a send hung in a silent server
        can be left behind when the service stops (the executor of ``to_thread`` is
        joined at exit). Its delivery stays pending in the store until recorded."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        def work() -> None:
            error: BaseException | None = None
            try:
                self._send_all(key, items)
            except BaseException as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop has ended: nobody waits
                loop.call_soon_threadsafe(settle, error)

        self._threads.add(done)
        done.add_done_callback(self._threads.discard)
        threading.Thread(target=work, name=f"send-{key}", daemon=True).start()
        return asyncio.shield(done)  # a cancelled pass still knows its threads at ``finish``

    async def finish(self) -> None:
        """The last pass of a stopping service: what is due, then the sends still on
        their threads. Cut off (cancelled), it leaves the rest pending in the store."""
        try:
            await self.deliver_due()
            while self._threads:
                await asyncio.wait(list(self._threads))
        finally:
            self._closing.set()

    def _gather_digests(self, now: datetime) -> datetime | None:
        next_due = None
        for tag, parts in self.outbox.waiting_digests().items():
            window = timedelta(seconds=self.digests.get(tag, 0))
            due_at = parts[0].created_at + window
            if due_at <= now:
                from watcher.alerts import plan

                composed = self.composer.compose_digest(tag, parts, parts[0].created_at)
                self.outbox.gather_digest(parts, plan.digest(tag, composed, now))
                log.info("digest for %s: %d messages gathered", tag, len(parts))
            elif next_due is None or due_at < next_due:
                next_due = due_at
        return next_due

    def _expand(self, now: datetime) -> None:
        for message in self.outbox.unexpanded():
            if not self.channels:
                self.outbox.finish_message(message.id, "skipped", "no channels configured")
                continue
            matched = self.channels.matching(message.tags)
            if not matched:
                tags = ", ".join(message.tags)
                self.outbox.finish_message(
                    message.id, "failed", f"no channel has the tag {tags} ({self.channels.source})"
                )
                log.error("message %s: no channel has the tag %s", message.id, tags)
                continue
            self.outbox.expand(message.id, [(c.key, c.name) for c in matched], now)

    def _send_all(self, key: str, items: list[tuple[DeliveryRow, MessageRow]]) -> None:
        """One channel's due deliveries, in order, on one thread."""
        channel = self.channels.by_key.get(key)
        for delivery, message in items:
            try:
                if not self._closing.is_set():
                    self._send_one(channel, delivery, message)
            finally:
                with self._in_flight_lock:
                    self._in_flight.discard(delivery.id)

    @contextmanager
    def _attachment(self, message: MessageRow) -> Iterator[Path | None]:
        """The message's screenshot as a file for apprise (blobs are compressed)."""
        if not message.attachment_sha256 or self.blobs is None:
            yield None
            return
        import tempfile

        try:
            png = self.blobs.get(message.attachment_sha256)
        except Exception as exc:
            log.warning("message %s: screenshot unreadable (%s); sent without it", message.id, exc)
            yield None
            return
        with tempfile.TemporaryDirectory(prefix="watcher-attach-") as folder:
            path = Path(folder) / f"{message.target or 'watcher'}-screenshot.png"
            path.write_bytes(png)
            yield path

    def _send_one(
        self, channel: Channel | None, delivery: DeliveryRow, message: MessageRow
    ) -> None:
        now = self.clock()
        if channel is None:
            self.outbox.give_up(delivery.id, "channel no longer configured", now)
            return
        if delivery.attempts > 0 and now - message.created_at > self.max_age:
            error = f"gave up after {delivery.attempts} attempts: {delivery.error}"
            self.outbox.give_up(delivery.id, error, now)
            log.error("message %s to %s: %s", message.id, channel.name, error)
            return
        with self._attachment(message) as attachment:
            failure = send(
                channel,
                message.title,
                message.body_text,
                message.body_html,
                message.body_markdown,
                attachment,
            )
        now = self.clock()
        if failure is None:
            self.outbox.delivered(delivery.id, now)
            self.sent += 1
            log.info("sent %s %r to %s", message.kind, message.title, channel.name)
            return
        self.failed_attempts += 1
        error = failure.reason
        if failure.kind != "retry":
            final = "unconfirmed" if failure.kind == "unconfirmed" else "failed"
            self.outbox.attempt_failed(delivery.id, error, None, now, status=final)
            log.error("message %s to %s %s: %s", message.id, channel.name, final, error)
            return
        from watcher.store.outbox import backoff

        attempts = delivery.attempts + 1
        wait = backoff(attempts) * random.uniform(0.9, 1.1)
        self.outbox.attempt_failed(delivery.id, error, now + wait, now)
        log.warning(
            "message %s to %s failed (attempt %d, next in %.0f s): %s",
            message.id,
            channel.name,
            attempts,
            wait.total_seconds(),
            error,
        )


def send_test(
    channels: Channels, composer: Composer, tag: str | None
) -> list[tuple[str, str | None]]:
    """``notify-test``: a test message to each channel (with ``tag``); (name, error)."""
    from watcher.alerts.events import Event

    event = Event("test", "", "watcher", "", datetime.now(UTC))
    composed = composer.compose(event)
    chosen = channels.matching([tag] if tag else [])
    outcomes: list[tuple[str, str | None]] = []
    for c in chosen:
        failure = send(c, composed.title, composed.text, composed.html, composed.markdown)
        outcomes.append((c.name, failure.reason if failure else None))
    return outcomes
