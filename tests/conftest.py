"""Shared fixtures. Keep this file small: put helpers in their own modules."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from httpserver import HTTPServer


def _keep_loopback_off_proxies() -> None:
    """Tests talk to 127.0.0.1 only; a proxy from the environment must never see that traffic."""
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e.strip() for e in os.environ.get(name, "").split(",") if e.strip()]
        for host in ("127.0.0.1", "localhost", "127.0.0.5", "intranet.test"):
            if host not in entries:
                entries.append(host)
        os.environ[name] = ",".join(entries)


_keep_loopback_off_proxies()


@pytest.fixture
def http_server() -> Iterator[HTTPServer]:
    """A fresh real HTTP server on 127.0.0.1 (random port); see tests/httpserver.py."""
    with HTTPServer() as server:
        yield server
