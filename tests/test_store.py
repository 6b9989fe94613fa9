import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from alembic.config import Config
from alembic.script import ScriptDirectory
from blobhomes import BlobHome
from pgstores import child_env

from watcher.core.models import Hit, TermHits
from watcher.store import schema, sqlite, views
from watcher.store.blobs import sha256
from watcher.store.index import CheckRecord, CheckRow, NewCapture, Store, StoreError


def _capture(
    store: Store, name: str, raw: bytes, text: str, kind: str = "new", at: datetime | None = None
) -> str:
    state = store.target_state(name, f"http://127.0.0.1/{name}")
    now = at or datetime.now(UTC)
    new = NewCapture(
        state.id,
        kind,
        "http://127.0.0.1/x",
        "http://127.0.0.1/x",
        200,
        [("ETag", '"1"')],
        now,
        0.01,
        raw,
        text,
        previous_id=state.last.id if state.last else None,
        hits=[TermHits("g", "国防", "added", (text.find("国防"), 2), ("…",))]
        if "国防" in text
        else [],
    )
    return store.save_capture(new, CheckRecord(state.id, now, kind, 0.01, 200, etag='"1"'))


def blob_files(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*.zst")]


def test_schema_head_matches_the_newest_migration() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == schema.SCHEMA_HEAD


@pytest.mark.sqlite_only
def test_new_store_is_migrated_and_uses_wal(tmp_path: Path) -> None:
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "index.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == schema.SCHEMA_HEAD
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"targets", "captures", "hits", "checks"} <= tables


def test_capture_round_trip(tmp_path: Path, blob_home: BlobHome) -> None:
    with Store(tmp_path, blobs=blob_home.location) as store:
        cid = _capture(store, "t", "<p>国防科工局</p>".encode("gb18030"), "国防科工局")
        row = store.capture(cid)
        assert row.raw_sha256 == sha256("<p>国防科工局</p>".encode("gb18030"))
        assert store.raw(row) == "<p>国防科工局</p>".encode("gb18030")
        assert store.text(row) == "国防科工局"
        assert row.headers == [["ETag", '"1"']]
        assert row.fetched_at.tzinfo is not None
        assert store.capture(cid[:10]).id == cid
        assert store.hits_of(cid) == [Hit("g", "国防", "国防科工局", "added", 0, 2)]
        assert store.target_state("t", "http://127.0.0.1/t").last.id == cid


def test_identical_content_stores_no_new_blob(tmp_path: Path, blob_home: BlobHome) -> None:
    with Store(tmp_path, blobs=blob_home.location) as store:
        _capture(store, "a", b"<p>same</p>", "same")
        before = blob_home.names()
        _capture(store, "b", b"<p>same</p>", "same")
        assert blob_home.names() == before
        assert len(before) == 2  # one raw, one text
        assert store.verify() == []


def test_blobs_are_compressed(tmp_path: Path) -> None:
    raw = ("<p>工业和信息化部关于船舶工业的通知。</p>\n" * 2000).encode()
    with Store(tmp_path) as store:
        cid = _capture(store, "a", raw, "x")
        path = store.blobs.path(store.capture(cid).raw_sha256)
        assert path.stat().st_size < len(raw) / 20


def test_history_newest_first_and_unknown_capture(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        at = datetime(2024, 5, 10, 10, 0, tzinfo=UTC)
        first = _capture(store, "a", b"1", "1", at=at)
        second = _capture(store, "a", b"2", "2", "changed", at=at + timedelta(seconds=1))
        assert [r.id for r in store.history("a")] == [second, first]
        assert store.history("a")[0].previous_id == first
        with pytest.raises(StoreError, match="no capture"):
            store.capture("ZZZZZZZZ")


def test_verify_reports_a_missing_and_a_corrupt_blob(tmp_path: Path, blob_home: BlobHome) -> None:
    with Store(tmp_path, blobs=blob_home.location) as store:
        cid = _capture(store, "a", b"raw bytes", "text")
        row = store.capture(cid)
        blob_home.delete(row.raw_sha256)
        blob_home.replace(row.text_sha256, b"not zstd")
        problems = store.verify()
    assert len(problems) == 2
    assert problems[0] == f"capture {cid} (a): raw blob {row.raw_sha256} is missing"
    assert problems[1].startswith(
        f"capture {cid} (a): text blob {row.text_sha256} is damaged: not a readable zstd frame"
    )


def test_readers_work_while_a_writer_holds_a_transaction(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        _capture(store, "a", b"1", "1")
        reader = Store(tmp_path, readonly=True)
        with store.engine.begin() as conn:  # an open write transaction
            conn.exec_driver_sql("UPDATE targets SET url = 'http://127.0.0.1/changed'")
            assert len(reader.history("a")) == 1  # not blocked
        reader.close()


@pytest.mark.sqlite_only
def test_readonly_store_refuses_a_missing_index(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store"):
        Store(tmp_path / "nothing", readonly=True)


WRITER = textwrap.dedent(
    """
    import os, sys
    from datetime import UTC, datetime
    from pathlib import Path
    from watcher.store.index import Store, NewCapture, CheckRecord
    store = Store(Path(sys.argv[1]))
    i = 0
    print("ready", flush=True)
    while True:
        name = f"t{i % 7}"
        state = store.target_state(name, "http://127.0.0.1/" + name)
        raw = os.urandom(2000) + (b"x" * (i % 5000))
        now = datetime.now(UTC)
        new = NewCapture(state.id, "changed", "u", "u", 200, [], now, 0.0, raw, raw.hex())
        store.save_capture(new, CheckRecord(state.id, now, "changed", 0.0))
        i += 1
        print(i, flush=True)
    """
)


def test_sigkill_mid_write_leaves_a_consistent_store(tmp_path: Path) -> None:
    """Kill a writer at many random moments; the store must stay consistent every time.

    Each round waits until the writer says it stored a few captures (not for a guessed
    time, so a slow machine kills no earlier in the work), then kills it a random few
    milliseconds into the next ones."""
    data = tmp_path / "snap"
    rng = random.Random(6)
    for round_ in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(data)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for _ in range(4 + round_):
            assert proc.stdout.readline().strip()  # one more capture stored
        time.sleep(rng.uniform(0, 0.03))  # where in a write the kill lands
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Store(data) as store:
            assert store.verify() == []
            store.blobs.remove_partial(older_than=0)  # what an hour later does by itself
            assert not list((data / "blobs").rglob(".tmp-*"))
    db = sqlite3.connect(data / "index.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM captures").fetchone()[0] > 20


def test_check_records_count_consecutive_errors_and_keep_validators(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        _capture(store, "a", b"1", "1")
        tid = store.target_state("a", "http://127.0.0.1/a").id
        now = datetime.now(UTC)
        error = CheckRecord(tid, now, "error", 0.1, 503, 4, "HTTP 503")
        store.save_checks([error, error])
        state = store.target_state("a", "http://127.0.0.1/a")
        assert state.consecutive_errors == 2
        assert state.etag == '"1"'  # a failure keeps the validators of the last answer
        store.save_checks([CheckRecord(tid, now, "unchanged", 0.1, 304, etag='"2"')])
        state = store.target_state("a", "http://127.0.0.1/a")
        assert (state.consecutive_errors, state.etag) == (0, '"2"')
        assert [r.status for r in store.checks_of("a")][:3] == ["unchanged", "error", "error"]


def test_last_checked_and_checks_of_answer_in_plain_rows(tmp_path: Path) -> None:
    at = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    with Store(tmp_path) as store:
        store.target_state("never", "http://127.0.0.1/never")
        tid = store.target_state("a", "http://127.0.0.1/a").id
        store.save_checks([CheckRecord(tid, at, "error", 0.5, 503, 2, "HTTP 503")])
        assert store.last_checked() == {"never": None, "a": at}
        (row,) = store.checks_of("a")
    assert row == CheckRow(row.id, tid, at, "error", 503, 0.5, 2, None, "HTTP 503")


def test_hits_are_grouped_per_term_and_read_back_per_occurrence(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        first = _capture(store, "a", b"1", "船舶与国防")
        state = store.target_state("a", "http://127.0.0.1/a")
        text = "船舶，船舶，还是船舶"
        found = [
            TermHits("ship", "船舶", "added", (0, 2, 3, 2, 8, 2)),
            TermHits("mil", "国防", "removed", (3, 2)),
        ]
        now = datetime.now(UTC)
        new = NewCapture(
            state.id,
            "changed",
            "u",
            "u",
            200,
            [],
            now,
            0.0,
            b"2",
            text,
            previous_id=first,
            hits=found,
        )
        cid = store.save_capture(new, CheckRecord(state.id, now, "changed", 0.0))
        with store.engine.connect() as conn:
            query = sqlalchemy.text("SELECT term, count FROM hits WHERE capture_id = :c")
            rows = conn.execute(query, {"c": cid})
            assert sorted(rows) == [("国防", 1), ("船舶", 3)]
        back = store.hits_of(cid)
    assert [(h.term, h.where, h.position) for h in back] == [
        ("船舶", "added", 0),
        ("船舶", "added", 3),
        ("船舶", "added", 8),
        ("国防", "removed", 3),
    ]
    assert back[2].snippet == "船舶，船舶，还是船舶"
    assert back[3].snippet == "船舶与国防"  # cut from the previous capture's text
    assert store.capture(cid).hit_count == 4


@pytest.mark.sqlite_only
@pytest.mark.parametrize("readonly", [False, True])
def test_a_corrupt_index_is_reported_and_left_alone(tmp_path: Path, readonly: bool) -> None:
    index = tmp_path / "index.sqlite"
    index.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match=r"cannot open the index .*file is not a database"):
        Store(tmp_path, readonly=readonly)
    assert index.read_bytes() == b"not a database at all" * 100


@pytest.mark.sqlite_only
def test_readers_refuse_an_index_of_another_schema(tmp_path: Path) -> None:
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "index.sqlite")
    db.execute("UPDATE alembic_version SET version_num = '0000'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema 0000"):
        Store(tmp_path, readonly=True)


def test_a_young_temporary_file_of_another_writer_is_left_alone(tmp_path: Path) -> None:
    Store(tmp_path).close()
    folder = tmp_path / "blobs" / "ab"
    folder.mkdir(parents=True)
    young, old = folder / ".tmp-1-1-1", folder / ".tmp-1-1-2"
    young.write_bytes(b"being written")
    old.write_bytes(b"left by a crash")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    Store(tmp_path).close()
    assert young.exists() and not old.exists()


def test_a_changed_url_forgets_the_old_pages_validators(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        _capture(store, "a", b"1", "1")  # its check stored ETag "1"
        assert store.target_state("a", "http://127.0.0.1/a").etag == '"1"'
        moved = store.target_state("a", "http://127.0.0.1/elsewhere")
        assert (moved.etag, moved.last_modified) == (None, None)


def test_capture_prefixes_are_looked_up_within_the_target(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        a = _capture(store, "a", b"1", "1")
        b = _capture(store, "b", b"2", "2")
        common = a[: next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)]
        assert len(common) >= 4  # ids made in the same second share their first characters
        with pytest.raises(StoreError, match="ambiguous"):
            store.capture(common)
        assert store.capture(common, "a").id == a
        assert store.capture(b[:8].lower(), "b").id == b
        with pytest.raises(StoreError, match="no capture"):
            store.capture("01%_", "a")


def test_one_writer_per_data_folder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import os, sys, time
            from pathlib import Path
            from watcher.store.index import Store
            store = Store(Path(sys.argv[1]), index=os.environ.get("WATCHER_STORE"))
            print("holding", flush=True)
            time.sleep(30)
            """
            ),
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(tmp_path),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match=rf"another watcher process \(pid {holder.pid}\)"):
            Store(tmp_path, lock_wait=0)
        Store(tmp_path, readonly=True).close()  # readers are never locked out
    finally:
        holder.kill()
        holder.wait()
    Store(tmp_path).close()  # the lock went with the killed process


@pytest.mark.sqlite_only
def test_an_older_index_with_data_migrates_to_the_newest_schema(tmp_path: Path) -> None:
    """Migrations that copy tables (SQLite's way to alter them) keep the rows and their
    references, and leave no half-done copy behind."""
    from alembic import command

    index = tmp_path / "index.sqlite"
    engine = sqlalchemy.create_engine(f"sqlite:///{index}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.exec_driver_sql(
            "INSERT INTO targets (id, name, url, created_at) "
            "VALUES (1, 'miit', 'http://127.0.0.1/', '2026-11-01T00:00:00.000000Z')"
        )
        conn.exec_driver_sql(
            "INSERT INTO checks (target_id, checked_at, status, duration) "
            "VALUES (1, '2026-11-01T00:00:00.000000Z', 'error', 0.1)"
        )
        conn.commit()
    engine.dispose()
    with Store(tmp_path) as store:
        assert store.target_names() == ["miit"]
        assert len(store.checks_of("miit")) == 1
    db = sqlite3.connect(index)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "documents" in tables and not any(t.startswith("_alembic_tmp") for t in tables)
    assert db.execute("SELECT kind FROM targets").fetchone()[0] == "page"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def _migrated_index(path: Path, revision: str = "head") -> None:
    """An index made the way older watchers made it: by Alembic, migration by migration."""
    from alembic import command

    engine = sqlalchemy.create_engine(f"sqlite:///{path}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(schema.__file__).parent / "migrations"))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        conn.commit()
    engine.dispose()


FTS5_SHADOW_TABLES = {"search_data", "search_idx", "search_config", "search_docsize"}


def _shape(path: Path) -> dict[str, object]:
    """Tables, columns, indexes, foreign keys and virtual tables, in comparable form."""
    db = sqlite3.connect(path)
    shape: dict[str, object] = {}
    rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    for kind, name, sql in rows:
        if kind == "table" and sql.upper().startswith("CREATE VIRTUAL"):
            shape[f"virtual {name}"] = " ".join(sql.split())
        elif kind == "table" and name not in FTS5_SHADOW_TABLES:
            columns = db.execute(f'PRAGMA table_info("{name}")').fetchall()
            shape[f"columns {name}"] = sorted((c[1], c[2].upper(), *c[3:6]) for c in columns)
            keys = db.execute(f'PRAGMA foreign_key_list("{name}")').fetchall()
            shape[f"keys {name}"] = sorted((k[2], k[3], k[4]) for k in keys)
            indexes = db.execute(f'PRAGMA index_list("{name}")').fetchall()
            shape[f"indexes {name}"] = sorted(
                (i[2], tuple(c[2] for c in db.execute(f'PRAGMA index_info("{i[1]}")')))
                for i in indexes
            )
    shape["version"] = db.execute("SELECT version_num FROM alembic_version").fetchall()
    db.close()
    return shape


@pytest.mark.sqlite_only
def test_a_new_index_has_the_shape_the_migrations_give(tmp_path: Path) -> None:
    """A new index is made from watcher.store.schema in one step, without Alembic; it must
    be what running every migration makes, or later migrations would meet a
    different index than they were written for."""
    _migrated_index(tmp_path / "migrated.sqlite")
    Store(tmp_path / "fresh").close()
    fresh = _shape(tmp_path / "fresh" / "index.sqlite")
    assert fresh == _shape(tmp_path / "migrated.sqlite")
    assert fresh["version"] == [(schema.SCHEMA_HEAD,)] and "virtual search" in fresh


@pytest.mark.sqlite_only
def test_creating_a_new_index_is_all_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = "CREATE VIRTUAL TABLE search USING no_such_engine(terms)"
    monkeypatch.setattr(sqlite, "SEARCH_DDL", broken)
    with pytest.raises(StoreError, match="no such module: no_such_engine"):
        Store(tmp_path)
    db = sqlite3.connect(tmp_path / "index.sqlite")
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []
    db.close()
    monkeypatch.undo()
    with Store(tmp_path) as store, store.engine.connect() as conn:
        assert Store.schema_version(conn) == schema.SCHEMA_HEAD


@pytest.mark.sqlite_only
def test_a_migration_that_fails_half_way_leaves_the_index_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations are one transaction: a run killed (here: interrupted) after the first
    changes must not leave them behind without a version, or no later run could open
    the index ("table search_texts already exists")."""
    from alembic import command

    index = tmp_path / "index.sqlite"
    _migrated_index(index, "0002")
    before = _shape(index)
    real_upgrade = command.upgrade

    def upgrade_then_die(cfg: Config, revision: str) -> None:
        real_upgrade(cfg, "0004")
        raise KeyboardInterrupt  # like a signal, in the middle of the work

    monkeypatch.setattr(command, "upgrade", upgrade_then_die)
    with pytest.raises(KeyboardInterrupt):
        Store(tmp_path)
    assert _shape(index) == before
    monkeypatch.setattr(command, "upgrade", real_upgrade)
    with Store(tmp_path) as store, store.engine.connect() as conn:
        assert Store.schema_version(conn) == schema.SCHEMA_HEAD


def test_search_finds_a_title_split_by_line_breaks_and_words_split_by_a_space(
    tmp_path: Path,
) -> None:
    """The gazette page (real bytes) breaks its title over three lines with <br>;
    a reader reads one title, and so must the search."""
    from watcher.analysis.extract import extract
    from watcher.keywords import all_terms_in
    from watcher.store.search import parse_query
    from watcher.store.views import search

    page = Path(__file__).parent / "fixtures" / "pages" / "gov.cn"
    html = (page / "gongbao_2007-23_content_711039.html").read_text("utf-8")
    text = extract(html, "https://www.gov.cn/", select=["#UCAP-CONTENT"]).text
    title = (
        "全国人民代表大会常务委员会关于批准财政部发行特别国债购买外汇及"
        "调整2007年末国债余额限额的决议"
    )
    assert title not in text  # it is on three lines
    with Store(tmp_path) as store:
        _capture(store, "gazette", b"gazette", text)
        _capture(store, "portal", b"portal", "工信部 通知公告\n其他")
        store.index_texts(store.unindexed_texts())
        for q in (title, "工信部通知公告"):
            query = parse_query(q)
            found, _ = search(store, query, all_terms_in(query.terms))
            assert len(found) == 1, q


def _plan(store: Store, read: Callable[[], object]) -> tuple[object, str]:
    """What ``read`` returns, and the database's plan of the one statement it ran."""
    statements: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
        statements.append((statement, parameters))

    sqlalchemy.event.listen(store.engine, "before_cursor_execute", spy)
    try:
        answer = read()
    finally:
        sqlalchemy.event.remove(store.engine, "before_cursor_execute", spy)
    ((statement, parameters),) = statements
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # a few rows: a scan would win otherwise
            conn.exec_driver_sql("SET enable_seqscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        plan = conn.exec_driver_sql(explain + statement, parameters).all()
    return answer, " ".join(str(row) for row in plan)


def test_a_target_s_last_change_is_one_probe_of_the_index_of_changes(tmp_path: Path) -> None:
    """The dashboard's "last change" per target reads ix_captures_changes (0014), which
    holds only new and changed captures: a later unchanged capture is not a change."""
    t0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    with Store(tmp_path) as store:
        _capture(store, "a", b"1", "第一版", "new", t0)
        _capture(store, "a", b"2", "第二版", "changed", t0 + timedelta(hours=1))
        _capture(store, "a", b"3", "第二版", "unchanged", t0 + timedelta(hours=2))
        _capture(store, "b", b"4", "另一页", "new", t0)
        found, plan = _plan(store, lambda: views.summaries(store, counted=False))
    assert "ix_captures_changes" in plan
    assert {n: s.last_change_at for n, s in found.items()} == {  # type: ignore[attr-defined]
        "a": t0 + timedelta(hours=1),
        "b": t0,
    }
    assert {s.captures for s in found.values()} == {None}  # type: ignore[attr-defined]
    assert views.summaries(store)["a"].captures == 3


def test_a_failing_run_counts_the_errors_since_the_last_good_check(tmp_path: Path) -> None:
    """Each failing target's run: its errors after its last good check (read from the
    newest end of ix_checks_target_time), or all of them when none was ever good."""
    t0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    with Store(tmp_path) as store:
        _capture(store, "broke", b"1", "一", "new", t0)
        broke = store.target_state("broke", "http://127.0.0.1/broke").id
        never = store.target_state("never", "http://127.0.0.1/never").id
        fine = store.target_state("fine", "http://127.0.0.1/fine").id
        at = [t0 + timedelta(hours=n) for n in range(1, 7)]
        records = sorted(  # one by one, in time: a batch writes failures first
            [
                CheckRecord(broke, at[0], "error", 0.1, 503, 1, "HTTP 503"),
                CheckRecord(broke, at[1], "unchanged", 0.1, 304),
                CheckRecord(broke, at[2], "error", 0.1, 503, 1, "HTTP 503"),
                CheckRecord(broke, at[3], "error", 0.1, 503, 2, "HTTP 503"),
                CheckRecord(never, at[0], "error", 0.1, None, 1, "connection refused"),
                CheckRecord(never, at[4], "error", 0.1, None, 2, "connection refused"),
                CheckRecord(fine, at[0], "error", 0.1, 503, 1, "HTTP 503"),
                CheckRecord(fine, at[5], "unchanged", 0.1, 304),
            ],
            key=lambda r: r.checked_at,
        )
        for record in records:
            store.save_checks([record])
        runs, plan = _plan(store, lambda: views.failing_runs(store))
    assert "ix_checks_target_time" in plan
    assert runs == {
        "broke": views.FailingRun(at[2], 2, True),
        "never": views.FailingRun(at[0], 2, False),
    }
