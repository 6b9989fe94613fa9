"""The team store: the index on PostgreSQL (a real throwaway cluster, tests/pgserver.py).

What is about PostgreSQL itself is here: its schema from both paths, the search's
tokens as a tsvector, the advisory writer lock, the URL in the config and the
environment. The rest of the store's tests run on it with ``pytest --store=postgresql``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from watcher.cli.main import main
from watcher.config import ConfigError, load_config
from watcher.core.models import TermHits
from watcher.store import dialects, index, schema
from watcher.store.index import CheckRecord, NewCapture, Store, StoreError


def _capture(store: Store, name: str, raw: bytes, text: str) -> str:
    state = store.target_state(name, f"http://127.0.0.1/{name}")
    now = datetime.now(UTC)
    new = NewCapture(
        state.id,
        "new",
        "http://127.0.0.1/x",
        "http://127.0.0.1/x",
        200,
        [("ETag", '"1"')],
        now,
        0.01,
        raw,
        text,
        hits=[TermHits("g", "船舶", "added", (0, 2), ("…",))],
    )
    return store.save_capture(new, CheckRecord(state.id, now, "new", 0.01, 200))


def _shape(url: str) -> dict[str, object]:
    """Tables, columns, indexes, keys and the version, in comparable form."""
    engine = dialects.engine(Path("."), url, readonly=True)
    try:
        inspector = sa.inspect(engine)
        shape: dict[str, object] = {}
        for table in inspector.get_table_names():
            columns = inspector.get_columns(table)
            shape[f"columns {table}"] = sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in columns
            )
            keys = inspector.get_foreign_keys(table)
            shape[f"keys {table}"] = sorted(
                (k["referred_table"], tuple(k["constrained_columns"])) for k in keys
            )
            indexes = inspector.get_indexes(table)
            shape[f"indexes {table}"] = sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in indexes
            )
            unique = inspector.get_unique_constraints(table)
            shape[f"unique {table}"] = sorted(tuple(u["column_names"]) for u in unique)
            shape[f"primary {table}"] = inspector.get_pk_constraint(table)["constrained_columns"]
        with engine.connect() as conn:
            shape["version"] = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            # in full, partial indexes' WHERE included (the inspector leaves it out)
            shape["definitions"] = dict(
                conn.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                ).all()
            )
        return shape
    finally:
        engine.dispose()


def test_the_migrations_run_on_postgresql_and_give_the_new_index_s_shape(
    pg_server, tmp_path: Path
) -> None:
    """Every Alembic script runs on PostgreSQL too (an empty database migrated from
    0001), and what they make is what a new index made from the schema is."""
    migrated = pg_server.database()
    engine = dialects.engine(tmp_path, migrated, readonly=False)
    with engine.connect() as conn:
        index.migrate(conn)
    engine.dispose()
    fresh = pg_server.database()
    Store(tmp_path, index=fresh).close()
    shape = _shape(fresh)
    assert shape == _shape(migrated)
    assert shape["version"] == [(schema.SCHEMA_HEAD,)]
    assert ("ix_search_terms", ("terms",), False) in shape["indexes search"]  # type: ignore[operator]
    # the dashboard's index of changes is partial on PostgreSQL too (its WHERE is added
    # when a PostgreSQL store is opened, not at import)
    changes = shape["definitions"]["ix_captures_changes"]  # type: ignore[index]
    assert "WHERE" in changes and "'new'" in changes


def test_a_migration_interrupted_half_way_leaves_the_database_as_it_was(
    pg_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from alembic.config import Config

    url = pg_server.database()
    engine = dialects.engine(tmp_path, url, readonly=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(index.__file__).parent / "migrations"))
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        with conn.begin():
            command.upgrade(cfg, "0002")
    engine.dispose()
    before = _shape(url)
    real_upgrade = command.upgrade

    def upgrade_then_die(config: Config, revision: str) -> None:
        real_upgrade(config, "0004")
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "upgrade", upgrade_then_die)
    with pytest.raises(KeyboardInterrupt):
        Store(tmp_path, index=url)
    assert _shape(url) == before
    monkeypatch.setattr(command, "upgrade", real_upgrade)
    with Store(tmp_path, index=url) as store, store.engine.connect() as conn:
        assert Store.schema_version(conn) == schema.SCHEMA_HEAD


def test_search_on_postgresql_finds_what_sqlite_finds(pg_url: str, tmp_path: Path) -> None:
    """The same tokens (Hanzi pairs, Latin words, traditional and full-width folded),
    kept as lexemes exactly: PostgreSQL's own parser never splits them again."""
    from watcher.keywords import any_branch_in
    from watcher.store.search import parse_query
    from watcher.store.views import search

    texts = {
        "notice": "國防科工局 关于 ＳＡＳＴＩＮＤ 船舶工业 的通知 v2.0 e-mail",
        "other": "工信部 通知公告\n飞机 制造",
        "apostrophe": "it's a test of O'Brien",
    }
    found_on = {}
    for where, url in (("sqlite", None), ("postgresql", pg_url)):
        with Store(tmp_path / where, index=url) as store:
            for name, text in texts.items():
                _capture(store, name, name.encode(), text)
            assert store.index_texts(store.unindexed_texts()) == 3
            for q in (
                "国防科工局 sastind",
                "船舶 OR 飞机",
                '"工信部通知公告"',
                "船舶工业 飞机",
                "v2 mail",
                "o'brien",
                "國防",
            ):
                query = parse_query(q)
                confirm = any_branch_in([b.terms for b in query.branches])
                results, _ = search(store, query, confirm)
                found_on.setdefault(q, {})[where] = sorted(r.capture.target for r in results)
    for q, by in found_on.items():
        assert by["postgresql"] == by["sqlite"], q
    assert found_on["国防科工局 sastind"]["postgresql"] == ["notice"]
    assert found_on["船舶 OR 飞机"]["postgresql"] == ["notice", "other"]
    assert found_on["船舶工业 飞机"]["postgresql"] == []


def test_a_token_longer_than_a_lexeme_does_not_stop_the_text_being_indexed(
    pg_url: str, tmp_path: Path
) -> None:
    from watcher.keywords import all_terms_in
    from watcher.store.search import parse_query
    from watcher.store.views import search

    with Store(tmp_path, index=pg_url) as store:
        _capture(store, "long", b"long", "x" * 5000 + " 船舶 工业")
        assert store.index_texts(store.unindexed_texts()) == 1
        query = parse_query("船舶")
        results, _ = search(store, query, all_terms_in(query.terms))
        assert [r.capture.target for r in results] == ["long"]


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from watcher.store.index import Store
    store = Store(Path(sys.argv[1]), index=sys.argv[2])
    print("holding", flush=True)
    time.sleep(60)
    """
)


def test_one_writer_per_database_and_a_killed_one_leaves_no_lock(
    pg_url: str, tmp_path: Path
) -> None:
    """The advisory lock is per database, not per data folder: a writer with another
    folder on the same database waits; a reader never does; SIGKILL frees it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path / "a"), pg_url],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match=rf"another watcher process \(pid {holder.pid}\)"):
            Store(tmp_path / "b", index=pg_url, lock_wait=0)
        with pytest.raises(StoreError) as refused:
            Store(tmp_path / "b", index=pg_url, lock_wait=0)
        assert "postgresql://postgres@127.0.0.1" in str(refused.value)
        Store(tmp_path / "b", index=pg_url, readonly=True).close()
        side = Store(tmp_path / "b", index=pg_url, shared=True)  # outbox --retry beside it
        assert not side.exclusive
        side.close()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        with Store(tmp_path / "b", index=pg_url, lock_wait=10) as store:
            assert store.exclusive
    finally:
        holder.kill()
        holder.wait()


def test_a_reader_refuses_a_database_of_another_schema(pg_url: str, tmp_path: Path) -> None:
    Store(tmp_path, index=pg_url).close()
    engine = dialects.engine(tmp_path, pg_url, readonly=False)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    engine.dispose()
    with pytest.raises(StoreError, match="schema 0000"):
        Store(tmp_path, index=pg_url, readonly=True)


def test_a_reader_before_the_first_writer_names_the_database(pg_url: str, tmp_path: Path) -> None:
    """`watcher serve` may start before any worker made the team store: it names the
    database, not a data folder, and reads it once a writer has made it."""
    with pytest.raises(StoreError) as early:
        Store(tmp_path, index=pg_url, readonly=True)
    assert "schema none" in str(early.value)
    assert pg_url.split("@")[1] in str(early.value) and str(tmp_path) not in str(early.value)
    Store(tmp_path / "worker", index=pg_url).close()
    with Store(tmp_path, index=pg_url, readonly=True) as reader:
        assert reader.target_names() == []


def test_the_job_queue_opens_beside_the_writer_in_one_database(pg_url: str, tmp_path: Path) -> None:
    """The compose team profile keeps the index and the queue in one database: the
    dispatcher holds the store's writer lock, then makes the queue's tables. With one
    advisory key for both it waited on itself for ever, and every worker behind it."""
    import asyncio

    pytest.importorskip("procrastinate")
    from watcher.store.queue import JobQueue

    async def open_queue() -> None:
        queue = JobQueue(pg_url)
        await asyncio.wait_for(queue.open(), timeout=20)
        await queue.close()

    with Store(tmp_path, index=pg_url) as writer:
        assert writer.exclusive
        asyncio.run(open_queue())


def test_a_read_only_engine_cannot_write(pg_url: str, tmp_path: Path) -> None:
    Store(tmp_path, index=pg_url).close()
    with Store(tmp_path, index=pg_url, readonly=True) as reader:
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            reader.register_targets([("x", "http://127.0.0.1/x")])
        assert reader.target_names() == []


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:9/nowhere"  # the discard port: nothing listens
    with pytest.raises(StoreError, match=r"cannot open the index postgresql://nobody@127"):
        Store(tmp_path, index=url, lock_wait=0)
    with pytest.raises(StoreError, match=r"cannot open the index postgresql://nobody@127"):
        Store(tmp_path, index=url, readonly=True)


def test_settings_store_is_checked_where_it_is_written(tmp_path: Path) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text(
        "settings:\n  store: mysql://u@h/db\ntargets:\n  - name: a\n    url: http://127.0.0.1/\n"
    )
    with pytest.raises(ConfigError, match=r"targets.yaml:2: .*must be a postgresql:// URL"):
        load_config(config)
    config.write_text(
        "settings:\n  store: postgresql://u:secret@h/\ntargets:\n"
        "  - name: a\n    url: http://127.0.0.1/\n"
    )
    with pytest.raises(ConfigError, match=r"names no database") as bad:
        load_config(config)
    assert "secret" not in str(bad.value)
    config.write_text(
        "settings:\n  store: postgresql://u@h/watcher\ntargets:\n"
        "  - name: a\n    url: http://127.0.0.1/\n"
    )
    assert load_config(config).settings.store == "postgresql://u@h/watcher"


def test_watcher_store_wins_over_the_config_and_a_bad_one_is_named(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "targets.yaml"
    config.write_text(
        f"settings:\n  store: {pg_url}\ntargets:\n  - name: a\n    url: http://127.0.0.1:9/\n"
    )
    data = tmp_path / "data"
    with Store(data, index=pg_url) as store:
        _capture(store, "a", b"1", "船舶")
    runner = CliRunner()
    args = ["--config", str(config), "--data", str(data), "history", "a", "--json"]
    monkeypatch.delenv("WATCHER_STORE", raising=False)
    done = runner.invoke(main, args)
    assert done.exit_code == 0, done.output
    assert '"target": "a"' in done.output
    assert not (data / "index.sqlite").exists()  # the config's store was read, not a file
    monkeypatch.setenv("WATCHER_STORE", "sqlite:///x")
    done = runner.invoke(main, args)
    assert done.exit_code == 2
    assert "WATCHER_STORE must be a postgresql:// URL" in done.output


def test_workers_starting_at_once_on_an_empty_database_make_its_schema_once(
    pg_url: str, tmp_path: Path
) -> None:
    """Four workers' stores opened together on a new team store: each would create the
    tables, and PostgreSQL's catalog would refuse all but the first; under the schema
    lock one makes them and the others find them made."""
    opened: list[Store] = []
    errors: list[BaseException] = []
    ready = threading.Barrier(4)

    def open_store(n: int) -> None:
        ready.wait()
        try:
            opened.append(Store(tmp_path / f"worker{n}", index=pg_url, shared=True))
        except BaseException as exc:  # said below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in opened:
        store.close()
    assert errors == [] and len(opened) == 4
    reader = Store(tmp_path / "reader", index=pg_url, readonly=True)
    with reader, reader.engine.connect() as conn:
        assert Store.schema_version(conn) == schema.SCHEMA_HEAD
