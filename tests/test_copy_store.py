"""`watcher copy-store`: a store made by real checks (a listing with its documents, a
page that changed, keyword hits, alerts in the outbox) copied into another store,
proven row by row and blob by blob, with the source never changed."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from blobhomes import LocalHome, S3Home
from click.testing import CliRunner, Result
from httpserver import HTTPServer

from watcher.cli.main import main
from watcher.store import schema
from watcher.store.blobs import local_location
from watcher.store.index import Store
from watcher.web.app import create_app

UTF8 = {"Content-Type": "text/html; charset=utf-8"}


def page(title: str, body: str) -> bytes:
    return (
        f"<html><head><title>{title}</title></head><body><div class=nav>首页</div>"
        f"<div id=con><h1>{title}</h1><p>{body}</p></div></body></html>"
    ).encode()


def listing(n: int) -> bytes:
    rows = "".join(f'<li><a href="/art/{i}.html">通知{i}</a></li>' for i in range(n))
    return f"<html><body><ul class=list>{rows}</ul></body></html>".encode()


@pytest.fixture
def made(tmp_path: Path, http_server: HTTPServer) -> Path:
    """A data folder filled by two real check cycles (the second sees a change)."""
    http_server.route("/list.html", body=listing(3), headers=UTF8)
    for i in range(4):
        http_server.route(
            f"/art/{i}.html", body=page(f"通知{i}", f"关于船舶工业的通知{i}。"), headers=UTF8
        )
    http_server.route("/policy.html", body=page("政策", "工业互联网 第一版"), headers=UTF8)
    http_server.route("/hook", body=b"ok")
    port = http_server.url("/").rstrip("/").rsplit(":", 1)[1]
    (tmp_path / "notifiers").mkdir()
    (tmp_path / "notifiers" / "apprise.yml").write_text(
        f"urls:\n  - json://127.0.0.1:{port}/hook:\n      tag: analysts\n"
    )
    (tmp_path / "targets.yaml").write_text(
        "settings: {host_delay: 0}\n"
        "keywords:\n  ships: [船舶, 工业互联网]\n"
        "targets:\n"
        f"  - name: notices\n    url: {http_server.url('/list.html')}\n    retries: 0\n"
        "    follow: {links: 'ul.list a', select: '#con'}\n"
        f"  - name: policy\n    title: 政策\n    url: {http_server.url('/policy.html')}\n"
        "    retries: 0\n    keywords: [ships]\n    notify: [analysts]\n",
        encoding="utf-8",
    )
    assert cli(tmp_path, "check").exit_code == 0
    http_server.route("/policy.html", body=page("政策", "工业互联网 第二版 船舶"), headers=UTF8)
    http_server.route("/list.html", body=listing(4), headers=UTF8)
    assert cli(tmp_path, "check").exit_code == 0
    return tmp_path


def cli(folder: Path, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        [
            "--config", str(folder / "targets.yaml"),
            "--data", str(folder / "snapshots"),
            "--notifiers", str(folder / "notifiers"),
            *args,
        ],
    )  # fmt: skip


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file's digest; SQLite's shared-memory file, and a write-ahead log with
    nothing in it, which any reader of a WAL index makes, are not contents."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and not p.name.endswith("-shm")
        and not (p.name.endswith("-wal") and p.stat().st_size == 0)
    }


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in schema.metadata.sorted_tables
            if t.name != "search_texts"  # the copy indexes every text, `check` alone does not
        }


def test_a_store_is_copied_whole_and_the_source_is_not_touched(made: Path) -> None:
    source = made / "snapshots"
    before = tree_digest(source)
    result = cli(made, "copy-store", "--to", str(made / "copy"))
    assert result.exit_code == 0, result.output
    assert "copied and verified, every row and blob the same" in result.stdout
    assert tree_digest(source) == before  # not one byte of the source changed

    with Store(source, readonly=True) as a, Store(made / "copy", readonly=True) as b:
        assert counts(a) == counts(b)
        assert counts(a)["captures"] >= 6 and counts(a)["hits"] > 0
        with a.engine.connect() as ca, b.engine.connect() as cb:
            rows = [sa.select(schema.targets).order_by(schema.targets.c.id)]
            assert ca.execute(rows[0]).all() == cb.execute(rows[0]).all()
            parents = sa.select(sa.func.count()).where(schema.targets.c.parent_id.is_not(None))
            assert cb.execute(parents).scalar_one() == ca.execute(parents).scalar_one()
    # the copy is a working store: verify, history, search
    copied = ["--data", str(made / "copy")]
    runner = CliRunner()
    base = ["--config", str(made / "targets.yaml")]
    assert runner.invoke(main, [*base, *copied, "verify"]).exit_code == 0
    shown = runner.invoke(main, [*base, *copied, "history", "policy"])
    assert shown.exit_code == 0 and shown.stdout.count("\n") >= 2


def test_the_copy_is_searchable_in_its_own_index(made: Path) -> None:
    assert cli(made, "copy-store", "--to", str(made / "copy")).exit_code == 0
    with Store(made / "copy", readonly=True) as b, b.engine.connect() as conn:
        indexed = conn.execute(sa.select(sa.func.count()).select_from(schema.search_texts))
        assert indexed.scalar_one() > 0

    async def ask(q: str) -> list[str]:
        app = create_app(made / "copy", made / "targets.yaml")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.get("/api/search", params={"q": q})
            assert response.status_code == 200, response.text
            return sorted(r["capture"]["target"] for r in response.json()["results"])

    assert asyncio.run(ask("第二版")) == ["policy"]
    assert asyncio.run(ask("第一版")) == ["policy"]  # the older text too


def test_a_second_copy_into_a_filled_store_is_refused_and_writes_nothing(made: Path) -> None:
    assert cli(made, "copy-store", "--to", str(made / "copy")).exit_code == 0
    before = tree_digest(made / "copy" / "blobs")
    with Store(made / "copy", readonly=True) as b:
        rows = counts(b)
    again = cli(made, "copy-store", "--to", str(made / "copy"))
    assert again.exit_code == 1
    assert "already holds" in again.stderr and "nothing was written" in again.stderr
    with Store(made / "copy", readonly=True) as b:
        assert counts(b) == rows
    assert tree_digest(made / "copy" / "blobs") == before


def test_verify_only_names_a_row_and_a_blob_that_differ(made: Path) -> None:
    assert cli(made, "copy-store", "--to", str(made / "copy")).exit_code == 0
    ok = cli(made, "copy-store", "--to", str(made / "copy"), "--verify-only")
    assert ok.exit_code == 0 and "verified" in ok.stdout
    with Store(made / "copy") as b, b.engine.begin() as conn:
        conn.execute(sa.update(schema.targets).where(schema.targets.c.name == "policy").values(
            url="http://127.0.0.1:1/moved"))  # fmt: skip
    blob = next((made / "copy" / "blobs").rglob("*.zst"))
    blob.unlink()
    bad = cli(made, "copy-store", "--to", str(made / "copy"), "--verify-only")
    assert bad.exit_code == 1
    assert "table targets:" in bad.stdout and "different contents" in bad.stdout
    assert f"blob {blob.parent.name}{blob.name.removesuffix('.zst')}" in bad.stdout
    assert "missing from the target" in bad.stdout


def test_a_damaged_source_blob_stops_the_copy_before_any_row(made: Path) -> None:
    with Store(made / "snapshots", readonly=True) as a, a.engine.connect() as conn:
        digest = conn.execute(sa.select(schema.captures.c.raw_sha256)).scalars().first()
    path = made / "snapshots" / "blobs" / digest[:2] / f"{digest[2:]}.zst"
    path.write_bytes(b"not zstd")
    result = cli(made, "copy-store", "--to", str(made / "copy"))
    assert result.exit_code == 1
    assert digest in result.stderr and "watcher verify" in result.stderr
    with Store(made / "copy", readonly=True) as b:
        assert counts(b)["targets"] == 0


def test_blobs_go_to_a_bucket(made: Path, s3: S3Home) -> None:
    result = cli(
        made, "copy-store", "--to", str(made / "copy"), "--blobs", s3.url,
        "--blobs-endpoint", s3.server.endpoint,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not list((made / "copy").rglob("*.zst"))  # none beside the copied index
    local = LocalHome(made / "snapshots" / "blobs")
    assert local.names() and sorted(s3.names()) == local.names()
    verified = cli(
        made, "copy-store", "--to", str(made / "copy"), "--blobs", s3.url,
        "--blobs-endpoint", s3.server.endpoint, "--verify-only",
    )  # fmt: skip
    assert verified.exit_code == 0, verified.output


def test_a_database_url_needs_a_place_for_the_blobs(made: Path) -> None:
    result = cli(made, "copy-store", "--to", "postgresql://watcher@127.0.0.1/watcher")
    assert result.exit_code == 2
    assert "--blobs is needed" in result.stderr
    json.dumps(result.stderr)


def test_into_postgresql_then_checks_go_on_there(
    made: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blobs = made / "team-blobs"
    result = cli(made, "copy-store", "--to", pg_url, "--blobs", str(blobs))
    assert result.exit_code == 0, result.output
    assert "copied and verified" in result.stdout
    with (
        Store(made / "snapshots", readonly=True) as a,
        Store(made / "scratch", readonly=True, index=pg_url, blobs=local_location(blobs)) as b,
    ):
        assert counts(a) == counts(b)
        with a.engine.connect() as ca, b.engine.connect() as cb:
            query = sa.select(schema.captures).order_by(schema.captures.c.id)
            assert ca.execute(query).all() == cb.execute(query).all()
    # the ids go on past the copied ones: a check on the team store adds its rows
    monkeypatch.setenv("WATCHER_STORE", pg_url)
    checked = CliRunner().invoke(
        main,
        [
            "--config", str(made / "targets.yaml"),
            "--data", str(made / "scratch"),
            "check", "policy", "--no-notify",
        ],
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    with Store(made / "scratch", readonly=True, index=pg_url, blobs=local_location(blobs)) as b:
        after = counts(b)
    assert after["checks"] == counts_of(made)["checks"] + 1


def counts_of(made: Path) -> dict[str, int]:
    with Store(made / "snapshots", readonly=True) as a:
        return counts(a)
