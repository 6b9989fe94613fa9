"""A real HTTP/1.1 server on 127.0.0.1 for tests: real sockets, real bytes, no mocks.

Use it through the ``http_server`` fixture (tests/conftest.py); each test gets a fresh
server on a random free port, running in a background thread::

    server.route("/page", body=b"<html>...</html>", headers={"Content-Type": "text/html"})
    server.route("/flaky", sequence=[Response(500), Response(200, b"ok")])  # last one repeats
    server.route("/slow", body=b"late", delay=2.0)          # sleeps before the status line
    server.route("/a", body=b"a", delay=30, hold=lambda: server.hits("/b") > 0)  # until /b came
    server.route("/trickle", body=b"x" * 100, chunk_size=10, chunk_delay=0.1)
    server.redirect("/old", "/new")                         # 302 by default
    server.route("/huge", body=zeros(10**9))                # chunked, generated on the fly
    server.route("/gz", body=compress(html, "gzip"), headers={"Content-Encoding": "gzip"})
    server.route("/echo", handler=lambda req: Response(200, req.headers["user-agent"].encode()))

    url = server.url("/page")
    server.hits("/page"); server.requests("/page")[0].headers["if-none-match"]
    server.stats("/slow").max_in_flight; server.max_in_flight      # overlap: one path, all
    server.closed(port)                                     # the server hung up on that client
    server.accepting.clear(); ...; server.accepting.set()   # new connections wait meanwhile

A 200 answer carrying an ``ETag`` (or ``Last-Modified``) becomes ``304 Not Modified`` when
the request's ``If-None-Match`` (or ``If-Modified-Since``) matches, as a real server does.
Unknown paths answer 404 and are recorded too. The server also works as a plain HTTP
proxy: a request in absolute form (``GET http://x.invalid/p``) is routed by its path and
``Request.target`` keeps the full URL.

While ``accepting`` is clear, new connections wait in the listen queue unaccepted. Over
TLS (``tls=``) the handshake is done on accepting, so meanwhile the client waits in its
handshake with nothing sent, as it may for a far or busy site.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from urllib.parse import urljoin, urlsplit

import brotli

__all__ = [
    "HTTPServer",
    "Request",
    "Response",
    "RouteStats",
    "brotli_bomb",
    "compress",
    "gzip_bomb",
    "zeros",
]

Body = bytes | Callable[[], Iterable[bytes]]  # a callable is called per hit and streamed chunked
Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Response:
    """What to answer. Times are seconds; ``delay`` happens before the status line.

    With ``hold``, the answer waits until ``hold()`` is true (it is asked again whenever a
    request arrives, and every few milliseconds), ``delay`` seconds at most: a server that
    answers when the test's condition is met, not after a guessed time.
    """

    status: int = 200
    body: Body = b""
    headers: Headers = ()
    delay: float = 0.0
    hold: Callable[[], bool] | None = None
    chunk_size: int = 64 * 1024  # bytes bodies are written in pieces of this size
    chunk_delay: float = 0.0  # pause before each piece (a trickling body)
    content_length: int | None = None  # announce this instead of the real length
    close: bool = False  # send "Connection: close" and close after the answer
    hang_up: bool = False  # close after the answer without saying so (a keep-alive timeout)

    def header_list(self) -> list[tuple[str, str]]:
        items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
        return [(str(k), str(v)) for k, v in items]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.header_list() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Request:
    """One request as the server saw it. ``headers`` keys are lower case."""

    method: str
    path: str
    query: str
    target: str  # the request target as sent: "/p?q" or, through a proxy, "http://h/p?q"
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes
    received_at: float  # time.monotonic() when the request head had been read
    client_port: int = 0  # the client's source port: one per TCP connection

    @property
    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        jar.load(self.headers.get("cookie", ""))
        return {name: morsel.value for name, morsel in jar.items()}


Handler = Callable[[Request], Response]


@dataclass
class RouteStats:
    """Per-path counters. ``in_flight`` counts requests that arrived and whose answer has
    not yet begun its last write, so it never exceeds what the client really had open."""

    hits: int = 0
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass
class _Route:
    responses: Sequence[Response] = ()
    handler: Handler | None = None
    stats: RouteStats = field(default_factory=RouteStats)

    def answer(self, request: Request, hit: int) -> Response:
        if self.handler is not None:
            return self.handler(request)
        return self.responses[min(hit, len(self.responses) - 1)]


class HTTPServer:
    """The test server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self._lock = threading.RLock()  # reentrant: a hold() condition may ask for stats
        self._changed = threading.Condition(self._lock)  # a request arrived, or stop()
        self._routes: dict[str, _Route] = {}
        self._in_flight = 0
        self.max_in_flight = 0  # most requests open at once, over all paths
        self._closed_ports: set[int] = set()
        self.stopping = threading.Event()
        self.accepting = threading.Event()  # clear: new connections are left waiting
        self.accepting.set()
        self._httpd = _ThreadingServer((host, 0), _RequestHandler)
        self._httpd.app = self
        self.scheme = "https" if tls else "http"
        if tls:  # HTTPS: the listening socket hands out TLS connections
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def start(self) -> HTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes handlers that are sleeping in a delay."""
        self.stopping.set()
        with self._changed:
            self._changed.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def route(
        self,
        path: str,
        body: Body = b"",
        status: int = 200,
        headers: Headers = (),
        delay: float = 0.0,
        *,
        sequence: Sequence[Response] | None = None,
        handler: Handler | None = None,
        **response_options: object,
    ) -> RouteStats:
        """Register ``path`` (exact match, query ignored); returns its live stats.

        ``sequence`` answers successive hits in turn (the last repeats); ``handler`` builds
        each answer from the Request. Other keywords go to :class:`Response`.
        """
        if sequence is not None and not sequence:
            raise ValueError("sequence needs at least one Response")
        fixed = Response(status, body, headers, delay, **response_options)  # type: ignore[arg-type]
        route = _Route(responses=sequence or [fixed], handler=handler)
        with self._lock:
            self._routes[path] = route
        return route.stats

    def redirect(self, path: str, to: str, status: int = 302, headers: Headers = ()) -> RouteStats:
        """Redirect ``path`` to ``to`` (a path on this server or an absolute URL)."""
        location = to if "://" in to else urljoin(self.base_url, to)
        extra = Response(headers=headers).header_list()
        return self.route(path, status=status, headers=[("Location", location), *extra])

    def stats(self, path: str) -> RouteStats:
        with self._lock:
            route = self._routes.get(path)
        return route.stats if route else RouteStats()

    def hits(self, path: str) -> int:
        return self.stats(path).hits

    def requests(self, path: str) -> list[Request]:
        return list(self.stats(path).requests)

    def closed(self, client_port: int) -> bool:
        """Whether the server has closed its side of that client's connection."""
        with self._lock:
            return client_port in self._closed_ports

    def _hold(self, response: Response) -> bool:
        """Wait as ``response`` asks before answering; False when the server stops."""
        if response.hold is None:
            return not (response.delay and self.stopping.wait(response.delay))
        deadline = time.monotonic() + response.delay
        with self._changed:
            while not response.hold():
                left = deadline - time.monotonic()
                if self.stopping.is_set():
                    return False
                if left <= 0:
                    break
                self._changed.wait(min(left, 0.01))
        return not self.stopping.is_set()

    def _dispatch(self, request: Request) -> tuple[RouteStats, Response]:
        """Record the request and pick its answer (404 for unknown paths)."""
        with self._lock:
            route = self._routes.get(request.path)
            if route is None:
                route = self._routes[request.path] = _Route([Response(404, b"not found")])
            stats = route.stats
            hit = stats.hits
            stats.hits += 1
            stats.requests.append(request)
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._changed.notify_all()
        return stats, _conditional(request, route.answer(request, hit))

    def _done(self, stats: RouteStats) -> None:
        with self._lock:
            stats.in_flight -= 1
            self._in_flight -= 1

    def _hung_up(self, client_port: int) -> None:
        with self._lock:
            self._closed_ports.add(client_port)


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    app: HTTPServer

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept (and, over TLS, shake hands) only while the test lets connections in."""
        app = self.app
        while not app.accepting.wait(0.01):
            if app.stopping.is_set():
                raise OSError("the server is stopping")  # serve_forever drops the attempt
        return super().get_request()

    def shutdown_request(self, request: socket.socket) -> None:
        """Close the connection, then note it: a test may wait for the hang-up."""
        try:
            port = request.getpeername()[1]
        except OSError:
            port = None
        super().shutdown_request(request)
        if port is not None:
            self.app._hung_up(port)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections do not outlive a test run
    server: _ThreadingServer

    def do_GET(self) -> None:
        app = self.server.app
        stats, response = app._dispatch(self._request())
        done = _Once(lambda: app._done(stats))
        try:
            if not app._hold(response):
                self.close_connection = True
                return
            self._send(response, done)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away: normal for size/time limits
        finally:
            done()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    def handle(self) -> None:
        """Serve a connection; a client hanging up between requests is normal, not an error."""
        with contextlib.suppress(ConnectionError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests assert on recorded requests, not on a log."""

    def _request(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        raw = [(k, v) for k, v in self.headers.items()]
        merged: dict[str, str] = {}
        for key, value in raw:
            key = key.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return Request(
            method=self.command,
            path=split.path or "/",
            query=split.query,
            target=self.path,
            headers=merged,
            raw_headers=raw,
            body=body,
            received_at=time.monotonic(),
            client_port=self.client_address[1],
        )

    def _send(self, response: Response, done: Callable[[], None]) -> None:
        chunked, length = self._send_head(response)
        if self.command == "HEAD" or response.status in (204, 304):
            done()
            return
        pieces = _pieces(response)
        writer = _write_chunked if chunked else _write_plain
        sent = writer(self.wfile, pieces, response.chunk_delay, self.server.app.stopping, done)
        if length is not None and sent != length:
            self.close_connection = True  # the announced length was a lie: end the connection
        if response.hang_up:
            self.close_connection = True

    def _send_head(self, response: Response) -> tuple[bool, int | None]:
        """Status line and headers; returns (chunked?, announced Content-Length)."""
        self.send_response(response.status)
        headers = response.header_list()
        names = {k.lower() for k, _ in headers}
        for key, value in headers:
            self.send_header(key, value)
        length = response.content_length
        if length is None and isinstance(response.body, bytes):
            length = len(response.body)
        no_body = response.status in (204, 304) or response.status < 200
        framed = names & {"content-length", "transfer-encoding"}
        chunked = not no_body and not framed and length is None
        if not no_body and not framed:
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
        if response.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        return chunked, None if framed else length


class _Once:
    """Call a function at most once (the in-flight counter must drop exactly once)."""

    def __init__(self, func: Callable[[], None]) -> None:
        self._func: Callable[[], None] | None = func

    def __call__(self) -> None:
        func, self._func = self._func, None
        if func is not None:
            func()


def _pieces(response: Response) -> Iterator[bytes]:
    if callable(response.body):
        return iter(response.body())
    body, size = response.body, max(response.chunk_size, 1)
    return (body[i : i + size] for i in range(0, len(body), size))


def _lookahead(pieces: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Yield (piece, is_last) so the last write can be told apart."""
    previous = next(pieces, None)
    while previous is not None:
        current = next(pieces, None)
        yield previous, current is None
        previous = current


def _write_plain(
    out: BufferedIOBase,
    pieces: Iterator[bytes],
    pause: float,
    stopping: threading.Event,
    done: Callable[[], None],
) -> int:
    sent = 0
    for piece, last in _lookahead(pieces):
        if pause and stopping.wait(pause):
            break
        if last:
            done()
        out.write(piece)
        sent += len(piece)
    return sent


def _write_chunked(
    out: BufferedIOBase,
    pieces: Iterator[bytes],
    pause: float,
    stopping: threading.Event,
    done: Callable[[], None],
) -> int:
    sent = 0
    for piece, _last in _lookahead(pieces):
        if pause and stopping.wait(pause):
            return sent
        if piece:
            out.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
    done()
    out.write(b"0\r\n\r\n")
    return sent


def _conditional(request: Request, response: Response) -> Response:
    """Answer 304 to a matching conditional GET, as a real server would."""
    if request.method not in ("GET", "HEAD") or response.status != 200:
        return response
    etag, modified = response.header("ETag"), response.header("Last-Modified")
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        match = etag is not None and ("*" in tags or etag.removeprefix("W/") in tags)
    else:
        match = _not_modified_since(modified, request.headers.get("if-modified-since"))
    if not match:
        return response
    kept = ("etag", "last-modified", "cache-control")
    return Response(304, headers=[(k, v) for k, v in response.header_list() if k.lower() in kept])


def _not_modified_since(modified: str | None, since: str | None) -> bool:
    if not modified or not since:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Payload helpers


def zeros(size: int, chunk: int = 64 * 1024) -> Callable[[], Iterator[bytes]]:
    """A body of ``size`` zero bytes, generated on the fly (a "1 GB" body costs nothing)."""
    block = bytes(chunk)

    def generate() -> Iterator[bytes]:
        left = size
        while left > 0:
            yield block if left >= chunk else block[:left]
            left -= chunk

    return generate


def compress(data: bytes, encoding: str) -> bytes:
    """``data`` encoded as "gzip", "deflate" (zlib-wrapped), "deflate-raw" or "br"."""
    if encoding == "gzip":
        return gzip.compress(data, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data)
    if encoding == "deflate-raw":
        encoder = zlib.compressobj(wbits=-15)
        return encoder.compress(data) + encoder.flush()
    if encoding == "br":
        return brotli.compress(data)
    raise ValueError(f"unknown encoding {encoding!r}")


def gzip_bomb(size: int) -> Callable[[], Iterator[bytes]]:
    """A valid gzip stream of ``size`` zero bytes (a multiple of 1 MiB), ~1 KB per MiB.

    After a full flush deflate restarts from an empty window, so one compressed MiB of zeros
    is a block that can be repeated: a "10 GB" bomb costs no CPU or memory to serve.
    """
    mib = 1 << 20
    if size % mib:
        raise ValueError("size must be a multiple of 1 MiB")
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = encoder.compress(bytes(mib)) + encoder.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"

    def generate() -> Iterator[bytes]:
        yield header
        for start in range(0, size // mib, 60):  # ~60 KB writes, each worth 60 MiB decoded
            yield block * min(60, size // mib - start)
        yield zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
        yield _crc_of_zeros(size).to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")

    return generate


def _crc_of_zeros(size: int) -> int:
    crc, block = 0, bytes(1 << 20)
    for _ in range(size // len(block)):
        crc = zlib.crc32(block, crc)
    return crc


@functools.cache
def brotli_bomb(size: int = 1 << 30) -> bytes:
    """``size`` zero bytes as brotli (1 GiB -> ~190 KB, made once per process in ~0.2 s)."""
    encoder, block = brotli.Compressor(quality=1), bytes(1 << 20)
    parts = [encoder.process(block) for _ in range(size // len(block))]
    parts.append(encoder.process(bytes(size % len(block))))
    parts.append(encoder.finish())
    return b"".join(parts)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
