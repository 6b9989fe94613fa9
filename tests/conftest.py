"""Shared fixtures. Keep this file small: put helpers in their own modules."""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from blobhomes import BlobHome, LocalHome, S3Home
from httpserver import HTTPServer
from pgserver import PGServer, unavailable_reason
from pgstores import PGStores, activate, make_template
from s3server import CREDENTIALS, FOREIGN, REGION, S3Server


def _keep_loopback_off_proxies() -> None:
    """Tests talk to 127.0.0.1 only; a proxy from the environment must never see that traffic."""
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e.strip() for e in os.environ.get(name, "").split(",") if e.strip()]
        for host in ("127.0.0.1", "localhost", "127.0.0.5", "intranet.test"):
            if host not in entries:
                entries.append(host)
        os.environ[name] = ",".join(entries)


_keep_loopback_off_proxies()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the index the store-touching tests run on (postgresql: a throwaway cluster)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: about SQLite itself (its file, lock file, a full disk)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--store") != "postgresql":
        return
    skip = pytest.mark.skip(reason="about the SQLite index itself (--store=postgresql)")
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)


@pytest.fixture
def tls_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context for 127.0.0.1 whose CA the fetchers trust (SSL_CERT_FILE)."""
    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    return server_ctx


@pytest.fixture
def http_server() -> Iterator[HTTPServer]:
    """A fresh real HTTP server on 127.0.0.1 (random port); see tests/httpserver.py."""
    with HTTPServer() as server:
        yield server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 on 127.0.0.1 for the session; each test takes a bucket of its own."""
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Home:
    """A fresh bucket, and the AWS variables a deployment would set (only those)."""
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", REGION)
    return S3Home(s3_server, s3_server.bucket())


@pytest.fixture(params=["local", "s3"])
def blob_home(request: pytest.FixtureRequest, tmp_path: Path) -> BlobHome:
    """The blob interface's tests run on both stores: files, and a bucket."""
    if request.param == "local":
        return LocalHome(tmp_path / "blobs")
    return request.getfixturevalue("s3")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PGServer]:
    """A throwaway PostgreSQL cluster for the session (tests/pgserver.py); skipped where
    no server is installed, unless WATCHER_REQUIRE_PG is set (CI sets it)."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("WATCHER_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL is required here: {reason}")
        pytest.skip(reason)
    server = PGServer()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server: PGServer) -> str:
    """A fresh, empty database of its own for one test."""
    return pg_server.database()


@pytest.fixture(scope="session", autouse=True)
def pg_stores(request: pytest.FixtureRequest) -> Iterator[PGStores | None]:
    """With ``--store=postgresql``: every store the tests open is on PostgreSQL, a data
    folder's index its own database, cloned from one migrated database
    (tests/pgstores.py); for the whole session, so module-scoped fixtures' stores are
    there too. Otherwise None, and nothing changes."""
    if request.config.getoption("--store") != "postgresql":
        yield None
        return
    from watcher.store import dialects

    server = request.getfixturevalue("pg_server")
    stores = PGStores(server, make_template(server))
    activate(stores)
    resolve, dialects.resolve = dialects.resolve, stores.resolve
    yield stores
    dialects.resolve = resolve
    activate(None)


@pytest.fixture(autouse=True)
def store_on_postgresql(
    pg_stores: PGStores | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    """A test's own databases are dropped after it (its data folders are in
    ``tmp_path``); a WATCHER_STORE of the environment would bypass them."""
    if pg_stores is None:
        yield
        return
    monkeypatch.delenv("WATCHER_STORE", raising=False)
    yield
    pg_stores.drop_under(tmp_path)
