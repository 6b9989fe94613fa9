"""The index's tables, written with SQLAlchemy Core so one schema serves SQLite
now and PostgreSQL later. Alembic migrations (``watcher/store/migrations``) change
an existing index; a new one is created from this module in one step (see
``watcher.store.index.create_fresh``), and a test checks that both give the same
tables, columns, indexes and keys.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from watcher.store.revision import SCHEMA_HEAD as SCHEMA_HEAD  # also read without SQLAlchemy


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as ISO-8601 UTC text, returned timezone-aware."""

    impl = sa.String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value)  # 'Z' is UTC; 60x faster than strptime


# the captures that changed the text; a query must say it in these words (literals,
# not bound values) for either database to use the partial index on it
CHANGE_KINDS = ("new", "changed")
CHANGES = "kind IN ('new', 'changed')"

metadata = sa.MetaData()

targets = sa.Table(
    "targets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_checked_at", UTCDateTime),
    sa.Column("last_status", sa.String(16)),
    sa.Column("last_error", sa.Text),
    sa.Column("consecutive_errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_capture_id", sa.String(26)),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("next_check_at", UTCDateTime),
    # a page of targets.yaml, or a document / attachment found through a listing target
    sa.Column("kind", sa.String(16), nullable=False, server_default="page"),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("targets.id")),
    sa.Column("fetch_learned", sa.String(16)),  # `fetch: auto` found it needs: browser
)

captures = sa.Table(
    "captures",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("previous_id", sa.String(26)),
    sa.Column("kind", sa.String(16), nullable=False),  # new | changed | unchanged (text same)
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("final_url", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("raw_sha256", sa.String(64), nullable=False),
    sa.Column("raw_size", sa.Integer, nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("text_size", sa.Integer, nullable=False),
    sa.Column("content_type", sa.Text),
    sa.Column("encoding", sa.String(32)),
    sa.Column("encoding_source", sa.String(16)),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("added", sa.Integer, nullable=False, server_default="0"),
    sa.Column("removed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("hit_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("metadata", sa.JSON),  # a notice's 发文字号, dates, issuer … (documents)
    # a browser fetch: raw_sha256 is what the server sent first (the evidence, e.g. a
    # 521 challenge); the text comes from the rendered DOM; and a full-page screenshot
    sa.Column("dom_sha256", sa.String(64)),
    sa.Column("screenshot_sha256", sa.String(64)),
    # the version of the extraction that made text_sha256 (NULL: before versions, 1)
    sa.Column("extraction_version", sa.Integer),
    # the SHA-256 of the target's rules (select, exclude, ignore) that made the text;
    # NULL: before 0013_rules, unknown
    sa.Column("rules_sha256", sa.String(64)),
    # what reading the bytes could not do right: [{"kind", "message", ...details}]
    # (undecodable bytes and their offsets, runs read as GB18030, a file read in part)
    sa.Column("warnings", sa.JSON),
    sa.Index("ix_captures_target_fetched", "target_id", "fetched_at"),
    sa.Index("ix_captures_raw_sha256", "raw_sha256"),
    sa.Index("ix_captures_text_sha256", "text_sha256"),
    sa.Index("ix_captures_fetched", "fetched_at", "id"),
)
# a target's newest change in one probe that reads no row (the dashboard's column);
# kind too, so that SQLite sees it covers the query and prefers it. PostgreSQL's
# ``where`` is added when a PostgreSQL store is opened (``with_postgresql_options``)
captures_changes = sa.Index(
    "ix_captures_changes",
    captures.c.target_id,
    captures.c.fetched_at,
    captures.c.kind,
    sqlite_where=sa.text(CHANGES),
)


def with_postgresql_options() -> None:
    """PostgreSQL's options on the schema: named at import, they would load
    SQLAlchemy's PostgreSQL dialect (about 50 ms) in every command on the embedded
    store."""
    captures_changes.dialect_kwargs["postgresql_where"] = sa.text(CHANGES)


# One row per capture, group, term and direction, with every occurrence's span:
# a page naming 船舶 twenty times is one row, not twenty.
hits = sa.Table(
    "hits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("capture_id", sa.String(26), sa.ForeignKey("captures.id"), nullable=False),
    sa.Column("group_name", sa.String(64), nullable=False),
    sa.Column("term", sa.Text, nullable=False),
    sa.Column("where", sa.String(8), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("spans", sa.Text, nullable=False),  # "start:length,…" in the text
    sa.Index("ix_hits_capture", "capture_id"),
    sa.Index("ix_hits_group", "group_name"),
)

checks = sa.Table(
    "checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("checked_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # new | changed | unchanged | error
    sa.Column("http_status", sa.Integer),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("capture_id", sa.String(26)),
    sa.Column("error", sa.Text),
    sa.Index("ix_checks_target_time", "target_id", "checked_at"),
)

# The outbox: every alert is a row here before anyone tries to send it, written in
# the same transaction as the capture or check that caused it. It is the only
# truth about alerts: what was sent, to which channel, and what failed.
messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),  # ULID: sorts by creation time
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # changed | new | error | recovered | …
    sa.Column("target", sa.String(64)),
    sa.Column("capture_id", sa.String(26)),
    sa.Column("tags", sa.JSON, nullable=False),  # apprise tags; [] means every channel
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_markdown", sa.Text, nullable=False),
    # pending | sent | failed | skipped (no channels at all) | digested (sent in a digest)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("digest_tag", sa.String(64)),  # waits to go out in this tag's digest
    sa.Column("digest_id", sa.String(26)),  # the digest message that carried it
    sa.Column("sent_at", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.Column("attachment_sha256", sa.String(64)),  # a screenshot sent with the message
    sa.Index("ix_messages_status", "status", "id"),
)

# One row per message and channel, made when the sender first takes the message:
# each channel has its own attempts and backoff, so one failing channel never
# holds back the others, and a channel that got a message never gets it again.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("message_id", sa.String(26), sa.ForeignKey("messages.id"), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),  # hash of the channel's URL
    sa.Column("channel_name", sa.Text, nullable=False),  # the URL with secrets hidden
    sa.Column("status", sa.String(16), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("message_id", "channel", name="uq_deliveries_message_channel"),
    sa.Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# Search: each distinct text once. ``search_texts`` gives a text digest its id; the
# texts' tokens are kept by the dialect (SQLite: the FTS5 table ``search``, made and
# read in watcher.store.sqlite; see watcher.store.search for the tokens).
search_texts = sa.Table(
    "search_texts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text_sha256", sa.String(64), nullable=False, unique=True),
)

# What a listing has listed: one row per document (or attachment), whose checks and
# captures are those of its own row in ``targets`` (kind ``document``/``attachment``).
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), primary_key=True),
    sa.Column("listing_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("targets.id")),  # an attachment's document
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("listed_date", sa.String(32)),  # the date shown next to the item, as given
    sa.Column("position", sa.Integer),  # its place in the listing when last seen (0 = top)
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_listed_at", UTCDateTime),
    # baseline (known before the first check, archived in the background) | deferred
    # (over the cap) | active (captured) | suspected (gone, not yet confirmed) | removed |
    # broken (never answered with content) | blocked (an anti-bot answer)
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("state_since", UTCDateTime),
    sa.Column("failed_checks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delisted_at", UTCDateTime),
    sa.Column("last_good_capture_id", sa.String(26)),
    sa.Column("next_check_at", UTCDateTime),
    sa.Column("metadata", sa.JSON),
    sa.Column("reason", sa.Text),  # what was seen when the state last changed (HTTP 404 …)
    sa.Column("select_missed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_documents_listing", "listing_id"),
    sa.UniqueConstraint("listing_id", "url", name="uq_documents_listing_url"),
)

document_events = sa.Table(
    "document_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("listing_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),  # the listing check's time
    # captured | suspected | removed | restored | delisted | broken | blocked
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("evidence_id", sa.String(26)),
    sa.Index("ix_document_events_listing", "listing_id", "at"),
    sa.Index("ix_document_events_at", "at"),
)

# The web UI's login: a random key made once per store (``key``: CSRF tokens are HMACs
# under it) and the password's argon2 hash (``password``: a new password ends every
# session), then one row per session, named by the SHA-256 of its cookie so that the
# index holds no usable session. Written by watcher.store.websec only.
web_secrets = sa.Table(
    "web_secrets",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's value
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    # the account the session is of (None: the WATCHER_PASSWORD shortcut's); removing
    # the user ends their sessions
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Index("ix_web_sessions_expires", "expires_at"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),  # viewer / analyst / admin
    sa.Column("password_hash", sa.Text),  # argon2; None: signs in through a proxy or OIDC
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_login_at", UTCDateTime),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("user_name", sa.String(128), nullable=False),  # kept when the user goes
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(512), nullable=False),  # what it was done to
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_audit_subject", "subject", "at"),
    sa.Index("ix_audit_at", "at"),
)

# The inbox (watcher.store.inbox): one row per event a person may want to see (a page
# changed, a new or edited notice, a document's removal, delisting, restoration or
# block, a target failing or recovering), written in the transaction that recorded
# it. Events are shown as items: one edit seen on many targets (the same
# ``change_key``: a hash of the added and removed text, with its line around) is one item.
inbox_items = sa.Table(
    "inbox_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # its first event's
    sa.Column("change_key", sa.String(64)),  # NULL: an event of its own
    sa.Column("first_at", UTCDateTime, nullable=False),
    sa.Column("last_at", UTCDateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),  # its events
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    # shared triage: reviewed | important | noise (NULL: not yet), and who has it
    sa.Column("state", sa.String(16)),
    sa.Column("assignee", sa.String(64)),
    sa.Index("ix_inbox_items_last", "last_at", "id"),
    sa.Index("ix_inbox_items_key", "change_key", "last_at"),
    sa.Index("ix_inbox_items_target", "target_id", "last_at"),
)

inbox_events = sa.Table(
    "inbox_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("inbox_items.id"), nullable=False),
    # new | changed (a page) | document | edited (a notice) | suspected | removed |
    # delisted | restored | blocked | broken | failing | recovered | cited (a followed
    # document cited by a new notice)
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("capture_id", sa.String(26)),  # the capture it shows (the evidence, removals)
    sa.Column("previous_id", sa.String(26)),  # what that capture is compared with
    sa.Column("detail", sa.Text),  # the reason or the error
    sa.Index("ix_inbox_events_item", "item_id"),
    sa.Index("ix_inbox_events_target", "target_id", "at"),
    sa.Index("ix_inbox_events_capture", "capture_id"),
)

# Who did what to an item: a state, an assignment, a note (shown on the item).
inbox_actions = sa.Table(
    "inbox_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("inbox_items.id"), nullable=False),
    sa.Column("user", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # state | assign | note
    sa.Column("value", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_inbox_actions_item", "item_id", "id"),
)

# Each user's own reading: marks on items, and when they last marked everything read.
inbox_reads = sa.Table(
    "inbox_reads",
    metadata,
    sa.Column("user", sa.String(64), primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("inbox_items.id"), primary_key=True),
    sa.Column("read", sa.Boolean, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

inbox_visits = sa.Table(
    "inbox_visits",
    metadata,
    sa.Column("user", sa.String(64), primary_key=True),
    sa.Column("last_visit_at", UTCDateTime),  # the visit before this one: "since"
    sa.Column("visit_at", UTCDateTime),
    sa.Column("read_before", UTCDateTime),  # "mark all read": older items are read
)

# One document across sites (watcher.store.works): a notice, and its copies on the
# watched targets, linked by 文号 (with issuer) or by near-duplicate text.
works = sa.Table(
    "works",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text),  # the 文号, with the issuer where it does not name it
    sa.Column("document_number", sa.Text),
    sa.Column("issuer", sa.Text),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("title_key", sa.Text),  # the title as every site writes it
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("first_target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Index("ix_works_key", "key"),
    sa.Index("ix_works_number", "document_number"),
    sa.Index("ix_works_title", "title_key"),
)

work_copies = sa.Table(
    "work_copies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False, unique=True),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("first_capture_id", sa.String(26), nullable=False),
    sa.Column("last_capture_id", sa.String(26), nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("linked_by", sa.String(16), nullable=False),  # first | number | text | title
    sa.Column("similarity", sa.Float),  # the estimated Jaccard similarity that linked it
    sa.Index("ix_work_copies_work", "work_id", "first_seen_at"),
)

# a document's bottom-k MinHash: 64 hashes (shifted into signed 64-bit), indexed to
# find the documents a new text shares many with
work_sketches = sa.Table(
    "work_sketches",
    metadata,
    sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
    sa.Column("hash", sa.BigInteger, nullable=False),
    sa.Index("ix_work_sketches_hash", "hash", "work_id"),
    sa.Index("ix_work_sketches_work", "work_id"),
)

# how many documents' sketches hold a hash: one held by many is boilerplate
work_hash_counts = sa.Table(
    "work_hash_counts",
    metadata,
    sa.Column("hash", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("works", sa.Integer, nullable=False),
)

work_citations = sa.Table(
    "work_citations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),  # citing
    sa.Column("number", sa.Text),  # the cited 文号, normalised
    sa.Column("title", sa.Text),  # the cited 《title》
    sa.Column("title_key", sa.Text),
    sa.Column("snippet", sa.Text, nullable=False, server_default=""),
    sa.Column("cited_id", sa.Integer, sa.ForeignKey("works.id")),  # NULL: not (yet) known
    sa.Column("found_at", UTCDateTime, nullable=False),
    sa.Index("ix_work_citations_work", "work_id"),
    sa.Index("ix_work_citations_cited", "cited_id"),
    sa.Index("ix_work_citations_number", "number"),
)

work_deadlines = sa.Table(
    "work_deadlines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
    sa.Column("date", sa.String(10), nullable=False),  # YYYY-MM-DD
    sa.Column("kind", sa.String(16), nullable=False),  # submit | comments | apply | deadline
    sa.Column("sentence", sa.Text, nullable=False),
    sa.Column("capture_id", sa.String(26), nullable=False),
    sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    sa.Column("reminded_at", UTCDateTime),  # the reminder sent (settings.deadline_reminders)
    sa.Index("ix_work_deadlines_date", "date"),
    sa.Index("ix_work_deadlines_work", "work_id"),
)

work_follows = sa.Table(
    "work_follows",
    metadata,
    sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), primary_key=True),
    sa.Column("user", sa.String(64), primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
)
