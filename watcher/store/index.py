"""Captures on disk: an index (SQLite in WAL mode, or PostgreSQL) plus content-addressed
blobs.

Order of writes is what keeps the evidence sound: blobs are written (fsynced,
renamed) first, and only then is the index row committed, in one transaction
with its hits and the check record. A crash at any moment leaves at worst an
unreferenced blob, never a row pointing at a missing or partial blob.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from watcher.core.ids import new_id
from watcher.core.models import Hit, TermHits, occurrence_count
from watcher.core.text import snippet
from watcher.store import dialects, inboxlog, outbox, schema, space, works
from watcher.store.blobs import (
    BlobError,
    BlobLocation,
    BlobMissing,
    BlobStore,
    BlobUnavailable,
    DamagedBlob,
    local_location,
    open_blobs,
)
from watcher.store.documents import Documents
from watcher.store.schema import captures, checks, hits, targets, work_copies

log = logging.getLogger(__name__)

INDEX_NAME = dialects.INDEX_NAME
LOCK_WAIT = 10.0  # seconds a second writer waits before giving up


class StoreError(Exception):
    """The store cannot be opened or a lookup failed; the message says which."""


class SideEngine:
    """A writer's own engine on the store's index (the web UI's sessions, the inbox's
    triage), opened on first use: the service may create the index after the web app.
    It never creates or migrates the index. ``index``: a PostgreSQL URL, or None for
    the SQLite file in ``root``."""

    def __init__(self, root: Path, index: str | None = None) -> None:
        self.root = root
        self.url = dialects.resolve(root, index)
        self.index = root / INDEX_NAME
        self._engine: sa.Engine | None = None
        self._lock = threading.Lock()

    def __call__(self) -> sa.Engine:
        with self._lock:
            if self._engine is None:
                if self.url is None and not self.index.exists():
                    raise StoreError(f"no store at {self.root}; run `watcher check`")
                self._engine = dialects.engine(self.root, self.url, readonly=False, create=False)
            return self._engine

    def exists(self) -> bool:
        """Whether there is an index to open yet (a server's always is: it is made by
        the first writer, and read as empty until then)."""
        return self.url is not None or self.index.exists()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


@dataclass(frozen=True, slots=True)
class CaptureRow:
    id: str
    target: str
    kind: str
    url: str
    final_url: str
    status_code: int
    headers: list[list[str]]
    fetched_at: datetime
    duration: float
    raw_sha256: str
    raw_size: int
    text_sha256: str
    text_size: int
    content_type: str | None
    encoding: str | None
    encoding_source: str | None
    title: str
    previous_id: str | None
    added: int
    removed: int
    hit_count: int
    metadata: dict[str, str] | None = None
    dom_sha256: str | None = None
    screenshot_sha256: str | None = None
    extraction_version: int | None = None  # None: made before versions were recorded
    warnings: list[dict[str, Any]] | None = None  # what reading the bytes could not do
    rules_sha256: str | None = None  # the rules that made the text; None: not recorded


@dataclass(frozen=True, slots=True)
class TargetState:
    """What a check needs to know about a target's past: nothing more."""

    id: int
    name: str
    etag: str | None
    last_modified: str | None
    consecutive_errors: int
    last: CaptureRow | None
    fetch_learned: str | None = None
    # the document this target's notice is a copy of, if any: (its key or None,)
    document: tuple[str | None] | None = None


@dataclass(slots=True)
class NewCapture:
    target_id: int
    kind: str  # new | changed | unchanged
    url: str
    final_url: str
    status_code: int
    headers: Sequence[tuple[str, str]]
    fetched_at: datetime
    duration: float
    raw: bytes
    text: str
    raw_sha256: str = ""
    text_size: int | None = None  # when ``text`` is not at hand (written by a worker)
    content_type: str | None = None
    encoding: str | None = None
    encoding_source: str | None = None
    title: str = ""
    previous_id: str | None = None
    added: int = 0
    removed: int = 0
    hits: Sequence[TermHits] = ()  # per term and direction
    id: str | None = None  # chosen by the caller when messages must name the capture
    metadata: dict[str, str] | None = None  # a notice's 发文字号, dates, issuer …
    dom_sha256: str | None = None  # browser fetches: the rendered DOM (the text source)
    screenshot_sha256: str | None = None  # browser fetches: the full-page PNG
    extraction_version: int | None = None  # the extraction that made the text
    rules_sha256: str | None = None  # the target's rules that made the text
    warnings: list[dict[str, Any]] | None = None  # undecodable bytes, a file read in part …
    change_key: str | None = None  # a hash of the added and removed text (the inbox's groups)
    facts: works.NoticeFacts | None = None  # what links a notice to its copies elsewhere


@dataclass(frozen=True, slots=True)
class CheckRecord:
    """One attempt to check a target, whatever its outcome."""

    target_id: int
    checked_at: datetime
    status: str
    duration: float
    http_status: int | None = None
    attempts: int = 1
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One recorded check (``CheckRecord`` as stored, with its capture if any)."""

    id: int
    target_id: int
    checked_at: datetime
    status: str
    http_status: int | None
    duration: float
    attempts: int
    capture_id: str | None
    error: str | None


class Store:
    """The index and blobs under one data folder (``snapshots/`` by default), with the
    index's outbox (``outbox``) and listed documents (``documents``)."""

    def __init__(
        self,
        root: Path,
        *,
        readonly: bool = False,
        fsync: bool = True,
        shared: bool = False,
        lock_wait: float = LOCK_WAIT,
        blobs: BlobLocation | None = None,
        index: str | None = None,
    ) -> None:
        """``index``: the team store's ``postgresql://`` URL (default: ``index.sqlite``
        in the data folder, the embedded store). ``shared``: for small writes beside a
        running service (``outbox --retry``): the writer lock is taken if free, else
        the write goes ahead without it (the database serialises it) and ``exclusive``
        says so. ``lock_wait``: seconds to wait for another writer to finish before
        giving up. ``blobs``: where the blobs
        are (default: ``blobs/`` in the data folder)."""
        self.root = root
        self.readonly = readonly
        self.url = dialects.resolve(root, index)
        self._lock: dialects.Lock | None = None
        # check records (and their alerts) a full disk refused: written with the next
        # write that finds space, counted meanwhile (``consecutive_errors`` goes on)
        self._held: list[CheckRecord] = []
        self._held_messages: list[outbox.NewMessage] = []
        self.disk_full = False  # the last write failed for lack of space
        location = blobs or local_location(root / "blobs", fsync=fsync)
        try:
            self.blobs: BlobStore = open_blobs(location)
        except BlobUnavailable as exc:
            raise StoreError(str(exc)) from None
        index = dialects.shown(self.url, root)
        self.engine = dialects.engine(root, self.url, readonly=readonly)
        self.dialect = dialects.of(self.engine)
        if readonly:
            if self.url is None and not (root / INDEX_NAME).exists():
                raise StoreError(f"no store at {root} (missing {INDEX_NAME}); run `watcher check`")
        else:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create data folder {root}: {exc.strerror}") from exc
            for folder in (root, location.root or root):
                if folder.is_dir() and (problem := space.unwritable(folder)):
                    raise StoreError(problem)
            self._lock = self._writer_lock(shared, lock_wait)
        self.outbox = outbox.Outbox(self.engine)
        self.documents = Documents(self.engine)
        try:
            if readonly:
                with self.engine.connect() as conn:
                    self._check_version(conn)
            else:
                self._prepare()
        except sa.exc.DBAPIError as exc:
            self._release()
            # SQLite may say "I/O error" for a full disk
            if self.url is None and (space.is_disk_full(exc) or space.no_room(root)):
                raise StoreError(
                    f"cannot open the index {index}: {space.full_message(root)}"
                ) from None
            raise StoreError(_cannot_open(index, exc, self.url)) from None
        except BaseException:  # a failed migration, an interrupt: no lock left behind
            self._release()
            raise

    @property
    def exclusive(self) -> bool:
        """Whether this process holds the writer lock (checks may run)."""
        return self._lock is not None

    def close(self) -> None:
        if self.exclusive:
            self.dialect.checkpoint(self.engine)
        self._release()

    def _release(self) -> None:
        """Close the connections and give up the writer lock."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self.engine.dispose()

    def _writer_lock(self, shared: bool, lock_wait: float) -> dialects.Lock | None:
        """The writer lock, or (``shared``) None when another process holds it."""
        try:
            return dialects.writer_lock(self.root, self.engine, 0.0 if shared else lock_wait)
        except sa.exc.DBAPIError as exc:  # the server cannot be reached
            self.engine.dispose()
            raise StoreError(
                _cannot_open(dialects.shown(self.url, self.root), exc, self.url)
            ) from None
        except dialects.LockBusy as busy:
            if shared:
                return None
            where = dialects.shown(self.url, self.root) if self.url else self.root
            raise StoreError(
                f"another watcher process (pid {busy.holder}) is writing to {where}; "
                f"waited {lock_wait:g} s"
            ) from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        with self.engine.connect() as conn, self.dialect.schema_lock(conn):
            self.dialect.use_wal(conn)
            version = self.schema_version(conn)
            if version is None and self.dialect.is_empty(conn):
                create_fresh(conn)
            elif version != schema.SCHEMA_HEAD:
                migrate(conn)
        self.blobs.remove_partial()

    def _check_version(self, conn: sa.Connection) -> None:
        version = self.schema_version(conn)
        if version != schema.SCHEMA_HEAD:
            where = dialects.shown(self.url, self.root) if self.url else self.root
            raise StoreError(  # a team store is made by its first writer (a worker)
                f"the index in {where} is at schema {version or 'none'}, this watcher "
                f"reads {schema.SCHEMA_HEAD}: run `watcher check` once to migrate it"
            )

    @staticmethod
    def schema_version(conn: sa.Connection) -> str | None:
        if (  # on PostgreSQL a failed query would end the transaction
            conn.dialect.name == "postgresql"
            and conn.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar() is None
        ):
            return None
        try:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except sa.exc.OperationalError:
            return None

    # -- writing --------------------------------------------------------------------------

    def target_state(self, name: str, url: str, now: datetime | None = None) -> TargetState:
        """The target's id and last capture, registering the target on first sight."""
        return self.target_states([(name, url)], now)[name]

    def target_states(
        self, wanted: Sequence[tuple[str, str]], now: datetime | None = None
    ) -> dict[str, TargetState]:
        """States of these targets: one indexed query per few hundred names, whatever
        the index holds besides (a scheduled check asks for one target among 10,000).
        Unknown targets are registered and moved ones re-pointed first."""
        urls = dict(wanted)
        with self.engine.connect() as conn:
            found = _read_states(conn, list(urls))
        stale = [(n, u) for n, u in urls.items() if n not in found or found[n][0].url != u]
        if stale:
            self.register_targets(stale, now)
            with self.engine.connect() as conn:
                found.update(_read_states(conn, [n for n, _ in stale]))
        return {n: self._with_held(_state(*found[n])) for n in urls}

    def register_targets(
        self, wanted: Sequence[tuple[str, str]], now: datetime | None = None
    ) -> None:
        """Make the index know these targets, in one transaction (the service's start-up
        and reloads: 10,000 targets in one go, not one transaction each). A target
        whose URL changed forgets the old page's ETag and date."""
        if not wanted:
            return
        created = now or datetime.now(UTC)
        rows = [{"n": n, "u": u, "created": created} for n, u in wanted]
        with self.engine.begin() as conn:
            conn.execute(_register_target(self.dialect), rows)
            conn.execute(_MOVE_TARGET, rows)

    def write_blobs(self, new: NewCapture) -> tuple[str, str]:
        """Store the raw and text blobs (fsynced, renamed); safe in a worker thread."""
        raw_digest = self.blobs.put(new.raw, new.raw_sha256 or None)
        text_digest = self.blobs.put(new.text.encode("utf-8"))
        self.blobs.sync_dirs([raw_digest, text_digest])
        return raw_digest, text_digest

    def save_capture(
        self,
        new: NewCapture,
        check: CheckRecord,
        digests: tuple[str, str] | None = None,
        messages: Sequence[outbox.NewMessage] = (),
    ) -> str:
        """Commit the capture, its hits, the check and the alerts it causes in one
        transaction, after its blobs: an alert exists exactly when its capture does."""
        with self._writing():
            raw_digest, text_digest = digests or self.write_blobs(new)
        capture_id = new.id or new_id(new.fetched_at.timestamp())
        with self._writing(), self.engine.begin() as conn:
            self._write_held(conn)
            # statements without .values(): compiled once and cached, the rows as parameters
            values = self._capture_values(new, capture_id, raw_digest, text_digest)
            conn.execute(_INSERT_CAPTURE, values)
            if new.hits:
                conn.execute(_INSERT_HIT, _hit_rows(capture_id, new.hits))
            inboxlog.record_capture(
                conn,
                capture_id=capture_id,
                target_id=new.target_id,
                kind=new.kind,
                at=new.fetched_at,
                previous_id=new.previous_id,
                change_key=new.change_key,
                title=new.title,
            )
            if new.facts is not None and new.kind in ("new", "changed"):
                works.record(
                    conn,
                    capture_id=capture_id,
                    target_id=new.target_id,
                    at=new.fetched_at,
                    facts=new.facts,
                )
            self._record_check(conn, check, capture_id)
            outbox.insert(conn, messages)
        self._wrote()
        return capture_id

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that finds no space raises ``DiskFull`` naming the data folder."""
        try:
            yield
        except Exception as exc:
            if not space.is_disk_full(exc):
                raise
            self.disk_full = True
            raise space.DiskFull(space.full_message(self.root)) from exc

    def _wrote(self) -> None:
        if self._held:
            log.info("%d check records kept while the disk was full written", len(self._held))
        self._held, self._held_messages = [], []
        self.disk_full = False

    def note_disk_full(self) -> None:
        """A write elsewhere (an analysis worker's blob) found the disk full."""
        self.disk_full = True

    def _write_held(self, conn: sa.Connection) -> None:
        """The check records a full disk refused, in their order (each counts on
        ``consecutive_errors`` or resets it), with their alerts."""
        if not self._held and not self._held_messages:
            return
        outbox.insert(conn, self._held_messages)
        if self._held:
            conn.execute(_INSERT_CHECK, [_check_values(c, None) for c in self._held])
        for failed, run in itertools.groupby(self._held, key=lambda c: c.status == "error"):
            update = _UPDATE_TARGET_FAILED if failed else _UPDATE_TARGET_OK
            conn.execute(update, [_target_values(c, None) for c in run])

    def _with_held(self, state: TargetState) -> TargetState:
        """The state as the store will hold it once the held records are written."""
        errors = state.consecutive_errors
        for check in self._held:
            if check.target_id == state.id:
                errors = errors + 1 if check.status == "error" else 0
        return (
            state
            if errors == state.consecutive_errors
            else replace(state, consecutive_errors=errors)
        )

    @staticmethod
    def _capture_values(
        new: NewCapture, capture_id: str, raw_digest: str, text_digest: str
    ) -> dict[str, Any]:
        return {
            "id": capture_id,
            "target_id": new.target_id,
            "previous_id": new.previous_id,
            "kind": new.kind,
            "url": new.url,
            "final_url": new.final_url,
            "status_code": new.status_code,
            "headers": [list(pair) for pair in new.headers],
            "fetched_at": new.fetched_at,
            "duration": new.duration,
            "raw_sha256": raw_digest,
            "raw_size": len(new.raw),
            "text_sha256": text_digest,
            "text_size": new.text_size
            if new.text_size is not None
            else len(new.text.encode("utf-8")),
            "content_type": new.content_type,
            "encoding": new.encoding,
            "encoding_source": new.encoding_source,
            "title": new.title,
            "added": new.added,
            "removed": new.removed,
            "hit_count": occurrence_count(new.hits),
            "metadata": new.metadata,
            "dom_sha256": new.dom_sha256,
            "screenshot_sha256": new.screenshot_sha256,
            "extraction_version": new.extraction_version,
            "rules_sha256": new.rules_sha256,
            "warnings": new.warnings or None,
        }

    def save_check(self, check: CheckRecord) -> None:
        """Record a check that stored nothing new (unchanged, 304 or an error)."""
        self.save_checks([check])

    def save_checks(
        self, records: Sequence[CheckRecord], messages: Sequence[outbox.NewMessage] = ()
    ) -> None:
        """Record many such checks in one transaction (a cycle's unchanged targets),
        with the alerts they cause (``error``, ``recovered``)."""
        if not records and not messages and not self._held:
            return
        try:
            with self._writing(), self.engine.begin() as conn:
                self._write_held(conn)
                outbox.insert(conn, messages)
                if records:
                    conn.execute(_INSERT_CHECK, [_check_values(c, None) for c in records])
                    inboxlog.record_checks(conn, map(_inbox_check, records))
                failed = [_target_values(c, None) for c in records if c.status == "error"]
                ok = [_target_values(c, None) for c in records if c.status != "error"]
                if failed:
                    conn.execute(_UPDATE_TARGET_FAILED, failed)
                if ok:
                    conn.execute(_UPDATE_TARGET_OK, ok)
        except space.DiskFull as full:
            self._held.extend(records)
            self._held_messages.extend(messages)
            raise space.DiskFull(
                f"{full}; {len(self._held)} check records kept in memory until space returns"
            ) from full.__cause__
        self._wrote()

    @staticmethod
    def _record_check(conn: sa.Connection, check: CheckRecord, capture_id: str | None) -> None:
        conn.execute(_INSERT_CHECK, _check_values(check, capture_id))
        inboxlog.record_checks(conn, [_inbox_check(check)])
        update = _UPDATE_TARGET_FAILED if check.status == "error" else _UPDATE_TARGET_OK
        conn.execute(update, _target_values(check, capture_id))

    def learn_fetch(self, target_id: int, mode: str | None) -> None:
        """Remember what `fetch: auto` found a target needs (shown in the UI)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(targets).where(targets.c.id == target_id).values(fetch_learned=mode)
            )

    def unindexed_texts(self) -> list[str]:
        """Digests of stored texts not yet in the search index (stored before it existed)."""
        query = (
            sa.select(captures.c.text_sha256)
            .distinct()
            .outerjoin(
                schema.search_texts,
                schema.search_texts.c.text_sha256 == captures.c.text_sha256,
            )
            .where(schema.search_texts.c.id.is_(None))
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def index_texts(self, digests: Sequence[str]) -> int:
        """Add these stored texts to the search index; returns how many were readable."""
        from watcher.store.search import index_terms

        done = 0
        for start in range(0, len(digests), 100):
            batch = []
            for digest in digests[start : start + 100]:
                try:
                    batch.append((digest, index_terms(self.blobs.get(digest).decode("utf-8"))))
                except Exception as exc:  # a lost blob is reported by `verify`
                    log.warning("text %s not indexed: %s", digest, exc)
            with self.engine.begin() as conn:
                for digest, terms in batch:
                    self.dialect.index_text(conn, digest, terms)
            done += len(batch)
        return done

    def after_copy(self, conn: sa.Connection, tables: Sequence[str]) -> None:
        """Rows were written with their own ids (``watcher copy-store``): the database's
        id counters must move past them (PostgreSQL's sequences; SQLite's follow the
        largest id by themselves)."""
        for name in tables:
            table = schema.metadata.tables[name]
            key = list(table.primary_key.columns)
            if len(key) == 1 and key[0].name == "id" and isinstance(key[0].type, sa.Integer):
                self.dialect.sync_identity(conn, table)

    # -- reading --------------------------------------------------------------------------

    def _capture(self, conn: sa.Connection, capture_id: str) -> CaptureRow | None:
        query = capture_query().where(captures.c.id == capture_id)
        row = conn.execute(query).first()
        return to_capture(row) if row else None

    def capture(self, capture_id: str, target: str | None = None) -> CaptureRow:
        """A capture by id or by a unique prefix of at least 4 characters (among the
        target's captures when ``target`` is given: ids of one cycle share a prefix)."""
        with self.engine.connect() as conn:
            row = self._capture(conn, capture_id.upper())
            if row:
                return row
            if len(capture_id) >= 4 and capture_id.isalnum():
                query = capture_query().where(captures.c.id.startswith(capture_id.upper()))
                if target is not None:
                    query = query.where(targets.c.name == target)
                found = conn.execute(query.limit(2)).all()
                if len(found) == 1:
                    return to_capture(found[0])
                if len(found) > 1:
                    raise StoreError(f"capture id prefix {capture_id!r} is ambiguous")
        raise StoreError(f"no capture {capture_id!r}")

    def history(self, name: str, limit: int | None = None) -> list[CaptureRow]:
        """Captures of one target, newest first."""
        query = (
            capture_query()
            .where(targets.c.name == name)
            .order_by(captures.c.fetched_at.desc(), captures.c.id.desc())
        )
        if limit:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [to_capture(row) for row in conn.execute(query)]

    def unlinked_captures(self, skip: Collection[str] = ()) -> list[CaptureRow]:
        """New and changed captures of targets that carry no document yet, oldest
        first: what a store made before documents were linked holds (``skip``: the
        listings' own pages, which are no notices)."""
        linked = sa.select(work_copies.c.target_id)
        query = (
            capture_query()
            .where(captures.c.kind.in_(("new", "changed")))
            .where(captures.c.target_id.not_in(linked))
            .order_by(captures.c.fetched_at, captures.c.id)
        )
        if skip:
            query = query.where(targets.c.name.not_in(list(skip)))
        with self.engine.connect() as conn:
            return [to_capture(row) for row in conn.execute(query)]

    def link_capture(self, capture: CaptureRow, facts: works.NoticeFacts) -> works.Linked:
        """Link a stored capture to its document, as a check does for a new one."""
        with self._writing(), self.engine.begin() as conn:
            target_id = conn.execute(
                sa.select(captures.c.target_id).where(captures.c.id == capture.id)
            ).scalar_one()
            linked = works.record(
                conn,
                capture_id=capture.id,
                target_id=target_id,
                at=capture.fetched_at,
                facts=facts,
            )
        self._wrote()
        return linked

    def target_names(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(targets.c.name).order_by(targets.c.name)).scalars())

    def last_checked(self) -> dict[str, datetime | None]:
        """When each known target was last checked (None: never), for the scheduler."""
        query = sa.select(targets.c.name, targets.c.last_checked_at)
        with self.engine.connect() as conn:
            return {name: at for name, at in conn.execute(query)}

    def last_checked_of(self, names: Sequence[str]) -> dict[str, datetime | None]:
        """When these targets were last checked (a listing's documents, queued as jobs)."""
        found: dict[str, datetime | None] = {}
        with self.engine.connect() as conn:
            for part in dialects.in_batches(list(names), conn):
                query = sa.select(targets.c.name, targets.c.last_checked_at)
                rows = conn.execute(query.where(targets.c.name.in_(part)))
                found.update({name: at for name, at in rows})
        return found

    def last_checked_at(self, name: str) -> datetime | None:
        """When one target was last checked (None: never, or unknown): a worker's look
        before it checks, whatever else the index holds."""
        query = sa.select(targets.c.last_checked_at).where(targets.c.name == name)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def hits_of(self, capture_id: str) -> list[Hit]:
        """A capture's hits, snippets cut from the stored texts (added: this capture's
        text; removed: the previous capture's), so the index holds no copies of text.
        A damaged text gives no snippets (never words cut from other bytes); its
        damage is the reader's to tell."""
        query = sa.select(hits).where(hits.c.capture_id == capture_id).order_by(hits.c.id)
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        if not rows:
            return []
        capture = self.capture(capture_id)
        texts = {"added": self._sound_text(capture)}
        if capture.previous_id and any(r.where == "removed" for r in rows):
            texts["removed"] = self._sound_text(self.capture(capture.previous_id))
        found = []
        for r in rows:
            text = texts[r.where]
            for span in r.spans.split(","):
                start, length = (int(n) for n in span.split(":"))
                context = snippet(text, start, start + length) if text is not None else ""
                found.append(Hit(r.group_name, r.term, context, r.where, start, length))
        found.sort(key=lambda h: (h.where != "added", h.position))
        return found

    def checks_of(self, name: str, limit: int = 50) -> list[CheckRow]:
        """A target's recent checks, newest first."""
        query = (
            sa.select(checks)
            .join(targets, targets.c.id == checks.c.target_id)
            .where(targets.c.name == name)
            .order_by(checks.c.checked_at.desc(), checks.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [CheckRow(**row._mapping) for row in conn.execute(query)]

    def text(self, capture: CaptureRow) -> str:
        return self.blobs.get(capture.text_sha256).decode("utf-8")

    def _sound_text(self, capture: CaptureRow) -> str | None:
        try:
            return self.text(capture)
        except BlobError:
            return None

    def raw(self, capture: CaptureRow) -> bytes:
        return self.blobs.get(capture.raw_sha256)

    def target_row(self, name: str) -> sa.Row[Any] | None:
        """A target's row (its last check, that check's error, failures in a row), so
        a target with no captures can say why; None for a name never registered."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(targets).where(targets.c.name == name)).first()

    # -- integrity ------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Problems found: the database's integrity check plus every blob a capture
        refers to, each read and hashed a chunk at a time. A blob store that stops
        answering ends the walk with one problem saying so, not one per blob."""
        with self.engine.connect() as conn:
            problems = self.dialect.integrity_problems(conn)
            rows = conn.execute(
                sa.select(
                    captures.c.id,
                    targets.c.name,
                    captures.c.raw_sha256,
                    captures.c.text_sha256,
                    captures.c.dom_sha256,
                    captures.c.screenshot_sha256,
                ).join(targets, targets.c.id == captures.c.target_id)
            )
            try:
                for capture_id, name, raw_digest, text_digest, dom, shot in rows:
                    of = f"capture {capture_id} ({name})"
                    problems.extend(self._check_blob(of, "raw", raw_digest))
                    problems.extend(self._check_blob(of, "text", text_digest))
                    if dom:
                        problems.extend(self._check_blob(of, "DOM", dom))
                    if shot:
                        problems.extend(self._check_blob(of, "screenshot", shot))
            except BlobUnavailable as exc:
                problems.append(f"{exc}; the blobs after it were not checked")
        return problems

    def _check_blob(self, capture: str, what: str, digest: str) -> Iterator[str]:
        try:
            self.blobs.check(digest)  # reads and hashes it, in bounded memory
        except BlobMissing:
            yield f"{capture}: {what} blob {digest} is missing"
        except DamagedBlob as exc:
            yield f"{capture}: {what} blob {digest} is damaged: {exc.reason}"


@functools.cache
def _register_target(dialect: dialects.Dialect) -> Any:
    return dialect.insert_or_ignore(targets).values(
        name=sa.bindparam("n"), url=sa.bindparam("u"), created_at=sa.bindparam("created")
    )


# another page: the old page's ETag and date must not be sent to it
_MOVE_TARGET = (
    sa.update(targets)
    .where(targets.c.name == sa.bindparam("n"), targets.c.url != sa.bindparam("u"))
    .values(url=sa.bindparam("u"), etag=None, last_modified=None)
)
_LAST = captures.alias("last")
# targets' rows and their last captures, by name (the unique index), in one query;
# built once: a statement made per call costs more to key for the cache than to run
_STATE_QUERY = (
    sa.select(
        targets,
        *(c.label(f"last_{c.name}") for c in _LAST.c),
        work_copies.c.work_id.label("document_id"),
        schema.works.c.key.label("document_key"),
    )
    .select_from(
        targets.outerjoin(_LAST, _LAST.c.id == targets.c.last_capture_id)
        .outerjoin(work_copies, work_copies.c.target_id == targets.c.id)
        .outerjoin(schema.works, schema.works.c.id == work_copies.c.work_id)
    )
    .where(targets.c.name.in_(sa.bindparam("names", expanding=True)))
)
_INSERT_CAPTURE = captures.insert()
_INSERT_HIT = hits.insert()
_INSERT_CHECK = checks.insert()
_UPDATE_TARGET = (
    sa.update(targets)
    .where(targets.c.id == sa.bindparam("tid"))
    .values(
        last_checked_at=sa.bindparam("checked"),
        last_status=sa.bindparam("status"),
        last_error=sa.bindparam("error"),
        last_capture_id=sa.func.coalesce(sa.bindparam("capture"), targets.c.last_capture_id),
    )
)
_UPDATE_TARGET_FAILED = _UPDATE_TARGET.values(consecutive_errors=targets.c.consecutive_errors + 1)
_UPDATE_TARGET_OK = _UPDATE_TARGET.values(
    consecutive_errors=0, etag=sa.bindparam("new_etag"), last_modified=sa.bindparam("new_modified")
)


def _check_values(check: CheckRecord, capture_id: str | None) -> dict[str, Any]:
    return {
        "target_id": check.target_id,
        "checked_at": check.checked_at,
        "status": check.status,
        "http_status": check.http_status,
        "duration": check.duration,
        "attempts": check.attempts,
        "capture_id": capture_id,
        "error": check.error,
    }


def _inbox_check(check: CheckRecord) -> tuple[int, datetime, bool, str | None]:
    return check.target_id, check.checked_at, check.status != "error", check.error


def _target_values(check: CheckRecord, capture_id: str | None) -> dict[str, Any]:
    return {
        "tid": check.target_id,
        "checked": check.checked_at,
        "status": check.status,
        "error": check.error,
        "capture": capture_id,
        "new_etag": check.etag,
        "new_modified": check.last_modified,
    }


def _cannot_open(index: str, exc: sa.exc.DBAPIError, url: str | None) -> str:
    """Why the index cannot be opened, and what to do, in one line."""
    reason = " ".join(str(getattr(exc.orig, "args", [str(exc)])[0]).split())
    if url is not None:  # the server's own words (refused, no such database, password …)
        return f"cannot open the index {index}: {reason}; nothing was changed"
    return (
        f"cannot open the index {index}: {reason}; nothing was changed "
        "(move the file aside to start a new index, or point --data elsewhere)"
    )


def _read_states(
    conn: sa.Connection, names: list[str]
) -> dict[str, tuple[sa.Row[Any], CaptureRow | None]]:
    """Targets' rows with their last captures, for the names the index knows."""
    found: dict[str, tuple[sa.Row[Any], CaptureRow | None]] = {}
    for batch in dialects.in_batches(names, conn):
        for row in conn.execute(_STATE_QUERY, {"names": batch}):
            found[row.name] = (row, _last_of(row))
    return found


def _last_of(row: sa.Row[Any]) -> CaptureRow | None:
    """The last capture's columns of a ``_STATE_QUERY`` row (None: never captured)."""
    m = row._mapping
    if m["last_id"] is None:
        return None
    values = {c.name: m[f"last_{c.name}"] for c in captures.c}
    return to_capture_values(values, target=m["name"])


def _state(row: sa.Row[Any], last: CaptureRow | None) -> TargetState:
    return TargetState(
        row.id,
        row.name,
        row.etag,
        row.last_modified,
        row.consecutive_errors,
        last,
        row.fetch_learned,
        (row.document_key,) if row.document_id is not None else None,
    )


def _hit_rows(capture_id: str, found: Sequence[TermHits]) -> list[dict[str, Any]]:
    """One row per term and direction, every position in it."""
    return [
        {
            "capture_id": capture_id,
            "group_name": h.group,
            "term": h.term,
            "where": h.where,
            "count": h.count,
            "spans": ",".join(f"{p}:{n}" for p, n in zip(h.spans[::2], h.spans[1::2], strict=True)),
        }
        for h in found
    ]


def capture_query() -> sa.Select[Any]:
    """Captures with their target's name: the base of every capture query."""
    return sa.select(captures, targets.c.name.label("target_name")).join(
        targets, targets.c.id == captures.c.target_id
    )


def to_capture(row: sa.Row[Any]) -> CaptureRow:
    m = row._mapping
    return to_capture_values(m, target=m["target_name"])


def to_capture_values(m: Mapping[str, Any], *, target: str) -> CaptureRow:
    """A capture from its columns by name."""
    headers = m["headers"]
    if isinstance(headers, str):  # defensive: JSON stored as text by an older writer
        headers = json.loads(headers)
    return CaptureRow(
        id=m["id"],
        target=target,
        kind=m["kind"],
        url=m["url"],
        final_url=m["final_url"],
        status_code=m["status_code"],
        headers=headers,
        fetched_at=m["fetched_at"],
        duration=m["duration"],
        raw_sha256=m["raw_sha256"],
        raw_size=m["raw_size"],
        text_sha256=m["text_sha256"],
        text_size=m["text_size"],
        content_type=m["content_type"],
        encoding=m["encoding"],
        encoding_source=m["encoding_source"],
        title=m["title"],
        previous_id=m["previous_id"],
        added=m["added"],
        removed=m["removed"],
        hit_count=m["hit_count"],
        metadata=m["metadata"],
        dom_sha256=m["dom_sha256"],
        screenshot_sha256=m["screenshot_sha256"],
        extraction_version=m["extraction_version"],
        warnings=m["warnings"],
        rules_sha256=m["rules_sha256"],
    )


def create_fresh(conn: sa.Connection) -> None:
    """A new index: the newest schema straight from ``watcher.store.schema``, stamped
    with its revision, as running every migration would make it (a test compares
    the two). Alembic is not imported for it: its imports (mako, pygments, every
    SQL dialect) take 15 MB that a long-running process would keep for good."""
    log.info("creating the index at schema %s", schema.SCHEMA_HEAD)
    dialect = dialects.of(conn)
    with dialect.one_transaction(conn):
        schema.metadata.create_all(conn)
        dialect.create_search(conn)
        conn.exec_driver_sql(  # the table and row Alembic keeps its revision in
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
        conn.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
            {"v": schema.SCHEMA_HEAD},
        )


def migrate(conn: sa.Connection) -> None:
    """Bring an existing index to the newest schema with Alembic, in one transaction."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    log.info("migrating the index to schema %s", schema.SCHEMA_HEAD)
    dialect = dialects.of(conn)
    with dialect.one_transaction(conn):
        dialect.drop_leftover_copies(conn)
        command.upgrade(cfg, "head")
