"""The start-up check that the httpx/httpcore private parts watcher uses are there.

A release without them is stood in for by real httpx objects with the attribute
taken away, or by a stand-in client lacking it; httpx itself is never mocked.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from watcher.fetch.client import Fetcher
from watcher.fetch.transport import (
    HTTPCORE_SUPPORTED,
    HTTPX_SUPPORTED,
    IncompatibleHttpx,
    check_internals,
)

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def refusal(client: object) -> str:
    with pytest.raises(IncompatibleHttpx) as refused:
        check_internals(client)
    return str(refused.value)


def test_the_installed_httpx_passes() -> None:
    check_internals(httpx.AsyncClient())
    check_internals(httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))))


def test_a_client_without_mounts_is_refused_in_one_sentence_with_versions_and_range() -> None:
    message = refusal(SimpleNamespace(_transport=httpx.AsyncHTTPTransport()))
    assert message == (
        f"httpx {version('httpx')} with httpcore {version('httpcore')} is not supported:"
        " watcher relies on their private AsyncClient._mounts, which these releases lack;"
        f" install httpx{HTTPX_SUPPORTED} and httpcore{HTTPCORE_SUPPORTED}."
    )


def test_a_client_without_its_transport_attribute_is_refused() -> None:
    assert "private AsyncClient._transport," in refusal(SimpleNamespace(_mounts={}))


def test_a_client_without_its_cookie_jar_attribute_is_refused() -> None:
    client = httpx.AsyncClient()
    del client._cookies
    assert "private AsyncClient._cookies," in refusal(client)


def test_the_fetchers_client_jar_is_not_offered_responses() -> None:
    """The client keeps no cookies (each attempt has its jar), so httpx's offer of every
    response to it is skipped: a tenth of a 304's CPU."""
    from watcher.fetch.transport import without_client_jar

    client = httpx.AsyncClient()
    without_client_jar(client)
    response = httpx.Response(
        200,
        headers={"Set-Cookie": "s=1; Path=/"},
        request=httpx.Request("GET", "http://gov.example/"),
    )
    client.cookies.extract_cookies(response)
    assert not client.cookies


def test_a_transport_without_its_pool_is_refused() -> None:
    client = httpx.AsyncClient()
    del client._transport._pool
    assert "private AsyncHTTPTransport._pool," in refusal(client)


def test_a_pool_without_a_network_backend_is_refused_also_in_a_mount() -> None:
    mounted = httpx.AsyncHTTPTransport()
    del mounted._pool._network_backend
    client = httpx.AsyncClient(mounts={"http://gov.example": mounted})
    assert "private AsyncConnectionPool._network_backend," in refusal(client)


def test_the_fetcher_checks_when_it_builds_its_client() -> None:
    transport = httpx.AsyncHTTPTransport()
    del transport._pool._network_backend
    with pytest.raises(IncompatibleHttpx, match=r"AsyncConnectionPool\._network_backend"):
        Fetcher(transport=transport)


def test_the_supported_ranges_are_pyproject_bounds() -> None:
    """The message must name the range that pyproject.toml actually allows."""
    dependencies = tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]["dependencies"]
    bounds = {}
    for dependency in dependencies:
        found = re.fullmatch(r"(httpx|httpcore)\s*([<>=!~][^;]*)", dependency)
        if found:
            bounds[found[1]] = found[2].replace(" ", "")
    assert bounds == {"httpx": HTTPX_SUPPORTED, "httpcore": HTTPCORE_SUPPORTED}
