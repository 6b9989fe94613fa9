"""``/targets/import`` over HTTP: an admin uploads another tool's file, sees the
targets it would add and every setting with no equivalent, picks, and the picked
ones are appended to ``targets.yaml`` with its comments kept; bad, oversized and
refused uploads say what and where, and write nothing.

The files are the importers' own samples (``tests/fixtures/import/``), written in
each tool's format from its documentation; tests/test_browser_keywords.py drives
the same upload in Chromium."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html import unescape
from pathlib import Path

import pytest
from clock import FakeClock
from fastapi.testclient import TestClient
from test_inbox import AsUser, csrf_of

from watcher.config import load_config
from watcher.store.index import Store
from watcher.web import targets_import
from watcher.web.app import create_app

SAMPLES = Path(__file__).parent / "fixtures" / "import"
CONFIG = """\
# our targets: this comment stays
settings: {host_delay: 0}
targets:
  - name: miit-notices   # already watched under this name
    url: https://www.miit.gov.cn/old/
"""


@pytest.fixture
def app(tmp_path: Path):
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "snapshots"
    Store(data).close()
    app = create_app(data, config, clock=FakeClock())
    app.add_middleware(AsUser)
    app.state.config_file = config
    yield app
    app.state.inbox_writer.close()


def client_as(app, role: str) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    client.cookies.set("as", f"{role}-user:{role}")
    return client


def upload(client: TestClient, name: str, data: bytes, **fields: str):
    token = csrf_of(client.get("/targets/import").text)
    files = {"file": (name, data, "application/octet-stream")}
    return client.post("/targets/import", data={"csrf": token, **fields}, files=files)


def offered(html: str) -> tuple[str, list[dict]]:
    token = csrf_of(html)
    field = re.search(r'name="targets" value="([^"]*)"', html)
    assert field, "no targets field"
    return token, json.loads(unescape(field.group(1)))


def test_a_urlwatch_file_is_shown_then_the_picked_targets_are_appended(app) -> None:
    config: Path = app.state.config_file
    admin = client_as(app, "admin")
    shown = upload(admin, "urls.yaml", (SAMPLES / "urls.yaml").read_bytes())
    assert shown.status_code == 200
    html = unescape(shown.text)
    assert "read as urlwatch" in html
    token, targets = offered(shown.text)
    names = [t["name"] for t in targets]
    assert names == [
        "miit-notices-2",  # the config's own name is taken
        "sastind-news",
        "zhengce-zuixin",
        "rendered-policy-page",
        "local-news",
    ]
    assert "<code>urls.yaml:14</code>: SASTIND news: <b>max_tries</b>: no equivalent" in html
    assert "<code>urls.yaml:29</code>: disk space: <b>command</b>" in html
    assert "select:\n  - div.page-content" in html  # each target as it would be written
    assert config.read_text(encoding="utf-8") == CONFIG  # nothing written yet
    picked = admin.post(
        "/targets/import/add",
        data={
            "csrf": token,
            "targets": json.dumps(targets),
            "pick": ["0", "4"],
            "filename": "urls.yaml",
        },
    )
    assert picked.status_code == 303
    assert picked.headers["location"] == "/targets/import?added=miit-notices-2%2Clocal-news"
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG.rstrip("\n"))  # comments and the old target as they were
    loaded = load_config(config)
    assert [t.name for t in loaded.targets] == ["miit-notices", "miit-notices-2", "local-news"]
    assert loaded.target("local-news").ignore == (r"访问量：\d+",)
    done = unescape(admin.get(picked.headers["location"]).text)
    assert "Added 2 targets to <code>targets.yaml</code>: miit-notices-2, local-news." in done
    again = upload(admin, "urls.yaml", (SAMPLES / "urls.yaml").read_bytes())
    assert "local-news" not in offered(again.text)[1].__repr__()  # its URL is watched now
    assert "that URL is watched already" in unescape(again.text)
    [action] = app.state.guard.accounts.actions(user="admin-user", limit=5)
    assert (action.action, action.detail) == ("targets import", "miit-notices-2, local-news")


def test_a_backup_zip_and_a_chosen_format_are_read(app) -> None:
    admin = client_as(app, "admin")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.write(SAMPLES / "url-watches.json", "backup/url-watches.json")
    shown = upload(admin, "changedetection-backup.zip", packed.getvalue())
    assert shown.status_code == 200 and "read as changedetection" in shown.text
    assert offered(shown.text)[1]
    listed = upload(admin, "feeds.txt", (SAMPLES / "urls.txt").read_bytes(), format="urls")
    assert "read as urls" in listed.text and offered(listed.text)[1]


@pytest.mark.parametrize(
    ("name", "data", "status", "said"),
    [
        (
            "url-watches.json",
            (SAMPLES / "broken-url-watches.json").read_bytes(),
            400,
            "the file was not read: url-watches.json:6: not valid JSON: Expecting property name",
        ),
        ("x.zip", b"PK\x03\x04 not a zip at all", 400, "x.zip:0: a damaged zip file"),
        ("list.txt", "https://a.gov.cn/\n\xff".encode("latin-1"), 400, "list.txt:2: not UTF-8"),
        ("notes.txt", b"just words\n", 400, "notes.txt:1: cannot tell the format"),
        ("C:\\Users\\li\\big.yaml", b"#" * 6_000_000, 413, "the file is larger than 5 MB"),
    ],
)
def test_bad_uploads_say_what_and_where_and_write_nothing(app, name, data, status, said) -> None:
    shown = upload(client_as(app, "admin"), name, data)
    assert shown.status_code == status
    assert said in unescape(shown.text)
    assert app.state.config_file.read_text(encoding="utf-8") == CONFIG


def test_a_stream_past_the_limit_is_refused_while_it_is_read(app, monkeypatch) -> None:
    monkeypatch.setattr(targets_import, "MAX_UPLOAD", 1000)
    shown = upload(client_as(app, "admin"), "urls.txt", b"https://a.gov.cn/\n" * 100)
    assert shown.status_code == 413 and "urls.txt is larger than 0 MB" in shown.text


def test_picks_that_would_not_load_or_clash_write_nothing(app) -> None:
    admin = client_as(app, "admin")
    token = csrf_of(admin.get("/targets/import").text)
    cases = [
        ([{"name": "miit-notices", "url": "https://a.gov.cn/"}], "already a target named"),
        ([{"name": "ok", "url": "ftp://a.gov.cn/"}], "the change would make the config invalid"),
        ("not json", "did not come back as a JSON list"),
    ]
    for targets, said in cases:
        given = targets if isinstance(targets, str) else json.dumps(targets)
        refused = admin.post(
            "/targets/import/add", data={"csrf": token, "targets": given, "pick": ["0"]}
        )
        assert refused.status_code == 400 and said in unescape(refused.text), refused.text
    none = admin.post("/targets/import/add", data={"csrf": token, "targets": "[]"})
    assert none.status_code == 400 and "no target was picked" in none.text
    assert app.state.config_file.read_text(encoding="utf-8") == CONFIG


def test_non_admins_may_not_import(app) -> None:
    for role in ("viewer", "analyst"):
        client = client_as(app, role)
        assert client.get("/targets/import").status_code == 403
        token = csrf_of(client.get("/inbox").text)
        files = {"file": ("urls.txt", (SAMPLES / "urls.txt").read_bytes(), "text/plain")}
        refused = client.post("/targets/import", data={"csrf": token}, files=files)
        assert refused.status_code == 403 and "admin" in refused.text
        targets = json.dumps([{"name": "x", "url": "https://a.gov.cn/"}])
        added = client.post(
            "/targets/import/add", data={"csrf": token, "targets": targets, "pick": ["0"]}
        )
        assert added.status_code == 403
        assert 'href="/targets/import"' not in client.get("/inbox").text
    admin = client_as(app, "admin")
    no_token = admin.post("/targets/import", files={"file": ("u.txt", b"https://a.gov.cn/")})
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    assert app.state.config_file.read_text(encoding="utf-8") == CONFIG
