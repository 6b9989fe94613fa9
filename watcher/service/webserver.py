"""The web UI's listening sockets and server, as ``run`` and ``serve`` both start it.

The sockets are bound first, before anything else starts: left to uvicorn, a busy
port is a log line and ``sys.exit`` inside a task of the running loop, after the
service's other parts have started.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from watcher.service.runtime import Paths
    from watcher.web.context import SharedConfig


class ListenError(OSError):
    """The web UI's address cannot be listened on (in use, not this machine's, not allowed)."""


WEB_BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int) -> list[socket.socket]:
    """The web UI's listening sockets, bound as uvicorn would bind them (every address
    ``host`` names)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    sockets: list[socket.socket] = []
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _name, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(WEB_BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        reason = exc.strerror or str(exc)
        message = f"the web UI cannot listen on {where}: {reason[:1].lower()}{reason[1:]}"
        raise ListenError(message) from None
    return sockets


def web_server(
    paths: Paths,
    host: str,
    port: int,
    *,
    password: str | None,
    check_now: Callable[[str], Awaitable[bool]] | None = None,
    health: Callable[[], list[str]] | None = None,
    shared_config: SharedConfig | None = None,
    own_signals: bool = True,
) -> uvicorn.Server:
    """The web UI over the store at ``paths.data``. ``check_now``: the service's "check
    now" (``serve`` has none). ``health``: the service's own problems for ``/healthz``
    (``serve`` has none). ``shared_config``: the service's config and its file's state
    (see ``WebContext.config``). ``own_signals`` False: the caller handles SIGTERM/SIGINT
    and stops the server itself (the service does, to stop its checks first)."""
    from watcher.web.app import create_app

    config = paths.config if paths.config.exists() else None
    app = create_app(
        paths.data,
        config,
        password=password,
        check_now=check_now,
        health=health,
        shared_config=shared_config,
        blobs=paths.blobs,
        index=paths.index,
    )
    settings = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    return uvicorn.Server(settings) if own_signals else _QuietServer(settings)


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its own signal handling."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
