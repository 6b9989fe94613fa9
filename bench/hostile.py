"""Hostile input against the service (`watcher run`): memory, time, /healthz, stop (not a test).

    .venv/bin/python bench/hostile.py [--only NAME[,NAME]] [--json] [--python PATH]

Each attack gets a fresh data folder and a `targets.yaml` pointing at a hostile
HTTP server of this script (threads on 127.0.0.1, bodies generated as they are
sent, every one finite in size and time). The real service runs as a child
process, `<python> -m watcher run` with its web UI on a free port, until the
attacked targets' first checks have an outcome in the store (or a wait limit
passed). Meanwhile, every 0.1 s: the summed RSS of the service's process tree,
and a GET /healthz (answered 200 within 1 s, or not). Then SIGTERM, and the
seconds until it exits (SIGKILL after `--exit-wait`). `config-100mb` runs
`watcher validate` on a 100 MB targets.yaml instead of the service.
"Outcome s" runs from the server's first request to the check's row in the
store (`checks`, read-only). Above `--kill-above-mb` (2500) the process group
is killed at once, so that no attack can exhaust the shared machine.

The idle service (one harmless page) runs first: memory is judged over its peak.
PASS needs: peak at most 300 MB over idle, every outcome within the target's
timeout plus `--margin`, every /healthz poll answered, exit within 10 s.

Settings of every attack: `timeout` 10 s (`--timeout`), `retries: 0` (a retried
timeout would take a multiple of it by design), `interval: 10s` (the first
check starts within a second; a later request to the same path gets a harmless
page), `per_host: 8`, `host_delay: 0`, `max_size` left at its default (20 MB).
The service runs with its working directory in the attack's folder, so
`--python` measures whichever tree that interpreter imports watcher from.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import http.client
import io
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import brotli
import yaml
from measure import _descendants, _rss_kb

MB = 1_000_000
MIB = 1 << 20
OVER_IDLE_LIMIT_MB = 300.0
EXIT_LIMIT_S = 10.0
HARMLESS = (
    b"<html><head><title>notice</title></head><body><p>\xe9\x80\x9a\xe7\x9f\xa5</p></body></html>"
)

# --- hostile bodies ----------------------------------------------------------------------


def _page_of_paragraphs(size: int) -> tuple[int, Callable[[], Iterator[bytes]]]:
    """(length, chunks) of an HTML page of ``size`` bytes that is all ``<p>x</p>``."""
    head, tail = b"<html><head><title>p</title></head><body>", b"</body></html>"
    count = (size - len(head) - len(tail)) // 8
    chunk = b"<p>x</p>" * 8192

    def chunks() -> Iterator[bytes]:
        yield head
        for start in range(0, count, 8192):
            yield chunk if count - start >= 8192 else b"<p>x</p>" * (count - start)
        yield tail

    return len(head) + count * 8 + len(tail), chunks


def _zip(parts: dict[str, bytes], big_name: str, big: Iterable[bytes]) -> bytes:
    """A deflated zip of small ``parts`` and one large member written piece by piece."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        with archive.open(big_name, "w") as member:
            for piece in big:
                member.write(piece)
    return buffer.getvalue()


def _repeat(head: bytes, unit: bytes, size: int, tail: bytes) -> Iterator[bytes]:
    """``head``, then ``unit`` repeated up to ``size`` bytes in all, then ``tail``."""
    count = (size - len(head) - len(tail)) // len(unit)
    yield head
    for start in range(0, count, 10_000):
        yield unit * min(10_000, count - start)
    yield tail


_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OOXML = "application/vnd.openxmlformats-officedocument"


@functools.cache
def docx_bomb() -> bytes:
    """A small DOCX whose document.xml inflates to 62 MB of one-letter paragraphs."""
    types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/word/document.xml" '
        f'ContentType="{_OOXML}.wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}">'
        f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" '
        'Target="word/document.xml"/></Relationships>'
    )
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
        b'openxmlformats.org/wordprocessingml/2006/main"><w:body>'
    )
    paragraphs = _repeat(
        head, b"<w:p><w:r><w:t>x</w:t></w:r></w:p>", 62 * MB, b"</w:body></w:document>"
    )
    return _zip(
        {"[Content_Types].xml": types.encode(), "_rels/.rels": rels.encode()},
        "word/document.xml",
        paragraphs,
    )


@functools.cache
def xlsx_bomb() -> bytes:
    """A small XLSX whose sharedStrings.xml inflates to 62 MB of one-letter strings."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    sheet_type = f"{_OOXML}.spreadsheetml"
    types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{sheet_type}.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{sheet_type}.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        f'ContentType="{sheet_type}.sharedStrings+xml"/></Types>'
    )
    rels = (
        f'<Relationships xmlns="{_RELS}"><Relationship Id="rId1" '
        f'Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'<workbook xmlns="{main}" xmlns:r="{_DOC_RELS}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        f'<Relationships xmlns="{_RELS}">'
        f'<Relationship Id="rId1" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
        "</Relationships>"
    )
    sheet = (
        f'<worksheet xmlns="{main}"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c></row>'
        "</sheetData></worksheet>"
    )
    strings = _repeat(f'<sst xmlns="{main}">'.encode(), b"<si><t>x</t></si>", 62 * MB, b"</sst>")
    return _zip(
        {
            "[Content_Types].xml": types.encode(),
            "_rels/.rels": rels.encode(),
            "xl/workbook.xml": workbook.encode(),
            "xl/_rels/workbook.xml.rels": workbook_rels.encode(),
            "xl/worksheets/sheet1.xml": sheet.encode(),
        },
        "xl/sharedStrings.xml",
        strings,
    )


@functools.cache
def pdf_of_pages(pages: int = 100_000) -> bytes:
    """A valid PDF of ``pages`` tiny pages sharing one content stream (~8 MB, ~0.2 s)."""
    content = b"BT /F1 12 Tf 72 720 Td (x) Tj ET"
    first_page = 5
    kids = b" ".join(b"%d 0 R" % n for n in range(first_page, first_page + pages))
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Count %d/MediaBox[0 0 612 792]/Resources<</Font<</F1 4 0 R>>>>/Kids[%s]>>"
        % (pages, kids),
        b"<</Length %d>>stream\n%s\nendstream" % (len(content), content),
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    ]
    objects += [b"<</Type/Page/Parent 2 0 R/Contents 3 0 R>>"] * pages
    out = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    offsets, position = [], len(out[0])
    for number, body in enumerate(objects, start=1):
        piece = b"%d 0 obj\n%s\nendobj\n" % (number, body)
        offsets.append(position)
        out.append(piece)
        position += len(piece)
    xref = [b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)]
    xref += [b"%010d 00000 n \n" % offset for offset in offsets]
    out += xref
    out.append(
        b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (1 + len(objects), position)
    )
    return b"".join(out)


def gzip_bomb(size: int = 4 << 30) -> Callable[[], Iterator[bytes]]:
    """A valid gzip stream of ``size`` zero bytes, ~1 KB per MiB (as tests/httpserver.py).

    After a full flush deflate restarts from an empty window, so one compressed MiB
    of zeros is a block that can be repeated; the CRC is computed only if the whole
    stream is read.
    """
    encoder = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = encoder.compress(bytes(MIB)) + encoder.flush(zlib.Z_FULL_FLUSH)

    def generate() -> Iterator[bytes]:
        yield b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        for start in range(0, size // MIB, 60):
            yield block * min(60, size // MIB - start)
        yield zlib.compressobj(9, zlib.DEFLATED, -15).flush()
        crc, zeros = 0, bytes(MIB)
        for _ in range(size // MIB):
            crc = zlib.crc32(zeros, crc)
        yield crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")

    return generate


@functools.cache
def brotli_bomb(size: int = 1 << 30) -> bytes:
    """``size`` zero bytes as brotli (1 GiB: ~190 KB, made in well under a second)."""
    encoder, block = brotli.Compressor(quality=1), bytes(MIB)
    parts = [encoder.process(block) for _ in range(size // MIB)]
    parts.append(encoder.finish())
    return b"".join(parts)


# --- the hostile server ------------------------------------------------------------------


@dataclass
class Answer:
    """One response: status, headers, then a body from ``chunks`` (None: no body)."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    chunks: Callable[[], Iterable[bytes]] | None = None
    once: bool = True  # a later request to the same path gets the harmless page
    trickle: bool = False  # slowloris: one byte every 0.5 s until the server's end


def _html(body: bytes) -> Answer:
    """A whole HTML page with its length."""
    return Answer(
        headers=(("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))),
        chunks=lambda: [body],
    )


def _file(body: bytes, mime: str) -> Answer:
    """A whole file of type ``mime`` with its length."""
    return Answer(
        headers=(("Content-Type", mime), ("Content-Length", str(len(body)))),
        chunks=lambda: [body],
    )


def _redirect(location: str) -> Answer:
    """A 302 to ``location``, every time (a loop needs the same answer again)."""
    return Answer(status=302, headers=(("Location", location), ("Content-Length", "0")), once=False)


class HostileServer(ThreadingHTTPServer):
    """Threads on 127.0.0.1, a random port; answers by path and counts what it served.

    Nothing it sends lasts past ``until`` (monotonic time) and every body is finite;
    a client that stops reading is dropped after the handler's 10 s socket timeout.
    """

    daemon_threads = True

    def __init__(self, until: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.port = self.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.until = until
        self.routes: dict[str, Answer] = {}
        self.requests: Counter[str] = Counter()
        self.first_request: float | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def count(self, path: str) -> int:
        with self._lock:
            if self.first_request is None:
                self.first_request = time.monotonic()
            self.requests[path] += 1
            return self.requests[path]

    def stop(self) -> None:
        self.until = 0.0
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # socket operations: a stalled client frees the thread
    server: HostileServer

    def do_GET(self) -> None:  # http.server calls it by this name
        path = self.path.split("?")[0]
        seen = self.server.count(path)
        answer = self.server.routes.get(path) or Answer(status=404, chunks=lambda: [b""])
        if answer.once and seen > 1:
            answer = _html(HARMLESS)
        with contextlib.suppress(OSError):  # the client went away: the attack is over
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            if answer.trickle:
                while time.monotonic() < self.server.until:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.5)
            elif answer.chunks is not None:
                for chunk in answer.chunks():
                    if time.monotonic() > self.server.until:
                        break
                    self.wfile.write(chunk)

    def log_message(self, *args: object) -> None:
        pass


# --- the attacks -------------------------------------------------------------------------


@dataclass
class Attack:
    """A named scenario: routes on the server and the targets pointing at them."""

    name: str
    what: str
    routes: Callable[[HostileServer], dict[str, Answer]]
    targets: Callable[[HostileServer], list[dict[str, Any]]]
    validate: bool = False  # the config-load attack: `watcher validate`, not the service


def _one(path: str, **extra: Any) -> Callable[[HostileServer], list[dict[str, Any]]]:
    """One target named ``attack`` on ``path`` of the attack's server."""
    return lambda server: [{"name": "attack", "url": server.base + path, **extra}]


def _big_page() -> Answer:
    """19.2 MB of ``<p>x</p>``: under the default max_size, so it is read whole."""
    length, chunks = _page_of_paragraphs(19_200_000)
    return Answer(
        headers=(("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(length))),
        chunks=chunks,
    )


def _private(server: HostileServer) -> dict[str, Answer]:
    # 0.0.0.0 is "this host": Linux connects it to 127.0.0.1, so the test stays on loopback
    return {
        "/to-private": _redirect(f"http://0.0.0.0:{server.port}/private"),
        "/private": _html(b"<p>internal: not for watcher</p>"),
    }


def _config_targets(path: Path, size: int) -> None:
    """A valid targets.yaml of ``size`` bytes: one short target per line."""
    with path.open("w", encoding="utf-8") as out:
        out.write("settings: {host_delay: 0}\ntargets:\n")
        written, n = 0, 0
        while written < size:
            lines = "".join(
                f"  - {{name: t-{i:08d}, url: 'http://127.0.0.1:9/notice/{i:08d}.html'}}\n"
                for i in range(n, n + 10_000)
            )
            out.write(lines)
            written += len(lines)
            n += 10_000


def _slow() -> Answer:
    """Headers announcing 10 MB, then a trickle that never trips a read timeout."""
    headers = (("Content-Type", "text/html"), ("Content-Length", "10000000"))
    return Answer(headers=headers, trickle=True)


ATTACKS = [
    Attack(
        "big-page",
        "a 19.2 MB page of <p>x</p>",
        lambda s: {"/big": _big_page()},
        _one("/big"),
    ),
    Attack(
        "six-big-pages",
        "six such targets at once",
        lambda s: {f"/big{n}": _big_page() for n in range(6)},
        lambda s: [{"name": f"attack-{n}", "url": f"{s.base}/big{n}"} for n in range(6)],
    ),
    Attack(
        "docx-62mb",
        "a DOCX holding 62 MB of tiny paragraphs",
        lambda s: {"/notice.docx": _file(docx_bomb(), f"{_OOXML}.wordprocessingml.document")},
        _one("/notice.docx"),
    ),
    Attack(
        "xlsx-62mb",
        "an XLSX with 62 MB of shared strings",
        lambda s: {"/table.xlsx": _file(xlsx_bomb(), f"{_OOXML}.spreadsheetml.sheet")},
        _one("/table.xlsx"),
    ),
    Attack(
        "pdf-100k-pages",
        "a PDF of 100,000 tiny pages",
        lambda s: {"/file.pdf": _file(pdf_of_pages(), "application/pdf")},
        _one("/file.pdf"),
    ),
    Attack(
        "regex-backtrack",
        "ignore (a+)+$ on a page of aaaa…!",
        lambda s: {"/aaa": _html(b"<html><body><p>" + b"a" * 5000 + b"!</p></body></html>")},
        _one("/aaa", ignore=["(a+)+$"]),
    ),
    Attack(
        "gzip-bomb",
        "4 GiB of zeros as ~4 MB of gzip",
        lambda s: {
            "/gz": Answer(
                headers=(("Content-Type", "text/html"), ("Content-Encoding", "gzip")),
                chunks=gzip_bomb(),
            )
        },
        _one("/gz"),
    ),
    Attack(
        "brotli-bomb",
        "1 GiB of zeros as ~190 KB of brotli",
        lambda s: {
            "/br": Answer(
                headers=(
                    ("Content-Type", "text/html"),
                    ("Content-Encoding", "br"),
                    ("Content-Length", str(len(brotli_bomb()))),
                ),
                chunks=lambda: [brotli_bomb()],
            )
        },
        _one("/br"),
    ),
    Attack(
        "slowloris",
        "headers, then one byte every 0.5 s",
        lambda s: {"/slow": _slow()},
        _one("/slow"),
    ),
    Attack(
        "redirect-loop",
        "/loop-a -> /loop-b -> /loop-a …",
        lambda s: {"/loop-a": _redirect("/loop-b"), "/loop-b": _redirect("/loop-a")},
        _one("/loop-a"),
    ),
    Attack(
        "redirect-private",
        "a redirect to http://0.0.0.0 (this host)",
        _private,
        _one("/to-private"),
    ),
    Attack(
        "redirect-data",
        "a redirect to a data: URL",
        lambda s: {
            "/to-data": _redirect(
                "data:text/html;base64," + base64.b64encode(b"<p>secret</p>").decode()
            )
        },
        _one("/to-data"),
    ),
    Attack(
        "config-100mb",
        "watcher validate on a 100 MB targets.yaml",
        lambda s: {},
        lambda s: [],
        validate=True,
    ),
]
IDLE = Attack(
    "idle", "one harmless page (the baseline)", lambda s: {"/ok": _html(HARMLESS)}, _one("/ok")
)


# --- measuring ---------------------------------------------------------------------------


class TreeRss(threading.Thread):
    """Peak summed RSS of a process and its descendants, every 0.1 s; kills the
    process group above ``kill_above_mb`` so that no attack can exhaust the machine."""

    def __init__(self, pid: int, kill_above_mb: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.kill_above_mb = pid, kill_above_mb
        self.peak_mb, self.processes = 0.0, 0
        self.killed = False
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pids = _descendants(self.pid)
            rss = sum(_rss_kb(p) for p in pids) / 1024
            self.peak_mb = max(self.peak_mb, rss)
            self.processes = max(self.processes, len(pids))
            if rss > self.kill_above_mb and not self.killed:
                self.killed = True
                _kill_group(self.pid)
            self._done.wait(0.1)

    def stop(self) -> None:
        self._done.set()
        self.join()


class Health(threading.Thread):
    """GET /healthz every 0.1 s: how many answered 200 within 1 s, and the slowest."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.polls = self.ok = 0
        self.worst_s = 0.0
        self.failures: Counter[str] = Counter()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            started = time.monotonic()
            status = healthz(self.port)
            took = time.monotonic() - started
            self.polls += 1
            self.worst_s = max(self.worst_s, took)
            if status == "200" and took <= 1.0:
                self.ok += 1
            else:
                self.failures[status if status != "200" else "slow"] += 1
            self._done.wait(max(0.0, 0.1 - took))

    def stop(self) -> None:
        self._done.set()
        self.join()


def healthz(port: int, timeout: float = 1.0) -> str:
    """The status of GET /healthz as a string, or why there was none."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return str(response.status)
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    finally:
        connection.close()


def free_port() -> int:
    """A port for the web UI: bound here, released, then given to the service."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_group(pid: int) -> None:
    """SIGKILL the session started for the service (its workers too), if any is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def outcomes(db: Path) -> dict[str, tuple[str, str]]:
    """Each target's first check in the store: name -> (status, error)."""
    if not db.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as c:
            rows = c.execute(
                "SELECT t.name, c.status, c.error FROM checks c JOIN targets t "
                "ON t.id = c.target_id ORDER BY c.id"
            ).fetchall()
    except sqlite3.Error:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for name, status, error in rows:
        found.setdefault(name, (status, error or ""))
    return found


def _short(text: str, base: str, width: int = 80) -> str:
    """One line for the table: the server's address dropped, whitespace folded, cut."""
    text = " ".join(text.replace(base, "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class Options:
    """Limits and places shared by every attack (from the command line)."""

    python: str
    timeout: float
    margin: float
    wait: float
    exit_wait: float
    settle: float
    kill_above_mb: float
    root: Path


@dataclass
class Result:
    """What one attack did to the service, and the verdict."""

    attack: str
    what: str
    timeout_s: float
    outcome_s: float | None = None
    outcome: str = ""
    peak_mb: float = 0.0
    over_idle_mb: float | None = None
    processes: int = 0
    healthz_ok: int = 0
    healthz_polls: int = 0
    healthz_worst_s: float = 0.0
    healthz_failures: dict[str, int] = field(default_factory=dict)
    exit_s: float | None = None
    killed: str = ""  # memory | no exit | wait limit
    served: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return "FAIL" if self.failures else "PASS"


def _start(command: list[str], work: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """The command in its own session (so a kill takes its workers too), logging to ``log``."""
    return subprocess.Popen(
        command,
        cwd=work,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )


def _environment() -> dict[str, str]:
    """This environment without WATCHER_* settings (a password, another config)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WATCHER_")}


def run_service(attack: Attack, opts: Options) -> Result:
    """Start `watcher run` against the attack's server, measure, stop it."""
    work = Path(tempfile.mkdtemp(prefix=f"{attack.name}-", dir=opts.root))
    hard_end = time.monotonic() + 30 + opts.wait + opts.exit_wait + 30
    server = HostileServer(until=hard_end)
    result = Result(attack.name, attack.what, opts.timeout)
    try:
        server.routes = attack.routes(server)
        targets = attack.targets(server)
        config = {
            "settings": {"per_host": 8, "host_delay": 0},
            "defaults": {"interval": "10s", "timeout": f"{opts.timeout:g}s", "retries": 0},
            "targets": targets,
        }
        (work / "targets.yaml").write_text(yaml.safe_dump(config), "utf-8")
        port = free_port()
        command = [opts.python, "-m", "watcher", "--config", str(work / "targets.yaml")]
        command += ["--data", str(work / "data"), "run", "--host", "127.0.0.1", "--port", str(port)]
        with (work / "service.log").open("wb") as log:
            process = _start(command, work, log)
        memory = TreeRss(process.pid, opts.kill_above_mb)
        memory.start()
        try:
            _measure(process, port, server, targets, work, opts, memory, result)
        finally:
            memory.stop()
            _kill_group(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        result.peak_mb = round(memory.peak_mb, 1)
        result.processes = memory.processes
        if memory.killed:
            result.killed = f"memory > {opts.kill_above_mb:g} MB"
    finally:
        server.stop()
        result.served = dict(server.requests)
    return result


def _measure(
    process: subprocess.Popen[bytes],
    port: int,
    server: HostileServer,
    targets: list[dict[str, Any]],
    work: Path,
    opts: Options,
    memory: TreeRss,
    result: Result,
) -> None:
    """Wait for the web UI, then for every target's outcome while polling /healthz;
    then SIGTERM and time the exit."""
    started = time.monotonic()
    # ready when the UI answers, or when the check began: a check that freezes the
    # process at once is then seen as /healthz failing, not as a service that never started
    while server.first_request is None and healthz(port, timeout=0.2) != "200":
        if process.poll() is not None or time.monotonic() - started > 30:
            tail = (work / "service.log").read_text("utf-8", "replace").strip().splitlines()
            result.outcome = "service did not start: " + (tail[-1] if tail else "no output")
            result.failures.append("no start")
            return
        time.sleep(0.1)
    ready = time.monotonic()
    health = Health(port)
    health.start()
    names = [t["name"] for t in targets]
    found: dict[str, tuple[str, str]] = {}
    seen_at = ready
    while True:
        found = outcomes(work / "data" / "index.sqlite")
        if all(n in found for n in names):
            seen_at = time.monotonic()
            break
        began = server.first_request or ready
        if process.poll() is not None or memory.killed or time.monotonic() - began > opts.wait:
            seen_at = time.monotonic()
            break
        time.sleep(0.1)
    settle_end = time.monotonic() + opts.settle  # what follows a check: indexing, freeing
    while time.monotonic() < settle_end and process.poll() is None and not memory.killed:
        time.sleep(0.1)
    health.stop()
    result.healthz_ok, result.healthz_polls = health.ok, health.polls
    result.healthz_worst_s = round(health.worst_s, 2)
    result.healthz_failures = dict(health.failures)
    if server.first_request is not None and found:
        result.outcome_s = round(seen_at - server.first_request, 2)
    statuses = Counter(
        f"{found[n][0]}: {found[n][1]}" if found[n][1] else found[n][0] for n in names if n in found
    )
    missing = [n for n in names if n not in found]
    parts = [f"{k} ×{v}" if v > 1 else k for k, v in statuses.items()]
    if missing:
        some = "no" if len(missing) == len(names) else f"{len(missing)} of {len(names)} without"
        parts.append(f"{some} outcome in {opts.wait:g} s")
    if "/private" in server.routes:
        parts.append(f"private server reached {server.requests['/private']}×")
    hops = sum(v for k, v in server.requests.items() if k.startswith("/loop"))
    if hops:
        parts.append(f"{hops} requests")
    result.outcome = _short("; ".join(parts), server.base)

    if memory.killed:
        result.failures.append("killed")
    elif process.poll() is not None:
        result.killed = f"exited by itself ({process.returncode})"
        result.failures.append("service died")
    else:
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=opts.exit_wait)
            result.exit_s = round(time.monotonic() - stopping, 2)
        except subprocess.TimeoutExpired:
            result.killed = f"no exit in {opts.exit_wait:g} s"
    _judge(result, opts, missing)


def _judge(result: Result, opts: Options, missing: list[str]) -> None:
    """The acceptance's time, /healthz and exit conditions (memory is judged in main)."""
    limit = opts.timeout + opts.margin
    if missing:
        result.failures.append("no outcome")
    elif result.outcome_s is not None and result.outcome_s > limit:
        result.failures.append(f"> {limit:g} s")
    if result.healthz_polls and result.healthz_ok < result.healthz_polls:
        result.failures.append("healthz")
    if result.exit_s is None and not {"service died", "killed"} & set(result.failures):
        result.failures.append("exit")
    elif result.exit_s is not None and result.exit_s >= EXIT_LIMIT_S:
        result.failures.append(f"exit ≥ {EXIT_LIMIT_S:g} s")


def run_validate(attack: Attack, opts: Options) -> Result:
    """`watcher validate` on a 100 MB targets.yaml: its peak memory and time."""
    work = Path(tempfile.mkdtemp(prefix=f"{attack.name}-", dir=opts.root))
    config = work / "targets.yaml"
    _config_targets(config, 100 * MB)
    result = Result(attack.name, attack.what, opts.timeout)
    command = [opts.python, "-m", "watcher", "--config", str(config)]
    command += ["--data", str(work / "data"), "validate"]
    with (work / "validate.log").open("wb") as log:
        started = time.monotonic()
        process = _start(command, work, log)
        memory = TreeRss(process.pid, opts.kill_above_mb)
        memory.start()
        try:
            process.wait(timeout=opts.wait)
            result.outcome_s = round(time.monotonic() - started, 2)
        except subprocess.TimeoutExpired:
            result.killed = f"no end in {opts.wait:g} s"
        finally:
            memory.stop()
            _kill_group(process.pid)
            process.wait()
    config.unlink()
    result.peak_mb, result.processes = round(memory.peak_mb, 1), memory.processes
    if memory.killed:
        result.killed = f"memory > {opts.kill_above_mb:g} MB"
        result.outcome_s = None
    lines = (work / "validate.log").read_text("utf-8", "replace").strip().splitlines()
    said = lines[-1] if lines else ""
    if result.killed:
        said = f"no result, SIGKILL ({result.killed})"
    elif said:
        said = f"exit {process.returncode}: {said}"
    result.outcome = _short(said or f"exit {process.returncode}", str(work))
    if result.outcome_s is None:
        result.failures.append("no outcome")
    elif result.outcome_s > opts.timeout + opts.margin:
        result.failures.append(f"> {opts.timeout + opts.margin:g} s")
    return result


# --- output ------------------------------------------------------------------------------


def _row(r: Result) -> list[str]:
    """The table's cells of one attack."""
    over = "—" if r.over_idle_mb is None else f"{r.over_idle_mb:+.0f}"
    health = f"{r.healthz_ok}/{r.healthz_polls}" if r.healthz_polls else "—"
    if r.healthz_failures:
        health += " (" + ", ".join(f"{k} {v}" for k, v in r.healthz_failures.items()) + ")"
    exit_s = f"{r.exit_s:.1f}" if r.exit_s is not None else "—"
    verdict = r.verdict + (": " + ", ".join(r.failures) if r.failures else "")
    if r.killed:
        verdict += f" [{r.killed}]"
    outcome_s = f"{r.outcome_s:.1f}" if r.outcome_s is not None else "—"
    return [r.attack, f"{r.timeout_s:g}", outcome_s, r.outcome, over, health, exit_s, verdict]


def table(results: list[Result], idle_mb: float) -> str:
    """A markdown table of the results, for a terminal and for README alike."""
    head = ["attack", "timeout s", "outcome s", "outcome", "MB over idle", "healthz ok"]
    head += ["SIGTERM exit s", "verdict"]
    rows = [head, ["---"] * len(head), *(_row(r) for r in results)]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    return f"idle service peak: {idle_mb:.0f} MB (summed RSS)\n" + "\n".join(lines)


def main() -> int:
    """The idle service first (the baseline), then each attack; exit 1 on any FAIL."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    names = [a.name for a in ATTACKS]
    parser.add_argument("--only", action="append", help=f"attacks, comma-separated: {names}")
    parser.add_argument("--json", action="store_true", help="JSON on stdout (table on stderr)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to run watcher")
    parser.add_argument("--timeout", type=float, default=10.0, help="the targets' timeout (s)")
    parser.add_argument("--margin", type=float, default=5.0, help="allowed past the timeout (s)")
    parser.add_argument("--wait", type=float, default=None, help="wait for outcomes (2×timeout+10)")
    parser.add_argument("--exit-wait", type=float, default=15.0, help="SIGKILL after (s)")
    parser.add_argument("--settle", type=float, default=3.0, help="measured after the outcome")
    parser.add_argument("--kill-above-mb", type=float, default=2500.0, help="SIGKILL above")
    parser.add_argument("--keep", action="store_true", help="keep the data folders and logs")
    args = parser.parse_args()
    chosen = [n for item in args.only or [] for n in item.split(",") if n]
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown attacks {unknown}; known: {', '.join(names)}")
    attacks = [a for a in ATTACKS if not chosen or a.name in chosen]
    root = Path(tempfile.mkdtemp(prefix="watcher-hostile-"))
    opts = Options(
        python=args.python,
        timeout=args.timeout,
        margin=args.margin,
        wait=args.wait if args.wait is not None else 2 * args.timeout + 10,
        exit_wait=args.exit_wait,
        settle=args.settle,
        kill_above_mb=args.kill_above_mb,
        root=root,
    )
    begun = time.monotonic()
    results: list[Result] = []
    try:
        for attack in [IDLE, *attacks]:
            print(f"{attack.name}: {attack.what}", file=sys.stderr, flush=True)
            run = run_validate if attack.validate else run_service
            results.append(run(attack, opts))
            r = results[-1]
            print(f"  {r.verdict} {r.outcome} ({r.peak_mb:.0f} MB)", file=sys.stderr, flush=True)
    finally:
        if args.keep:
            print(f"data folders and logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    idle = results[0].peak_mb
    for r in results:
        r.over_idle_mb = round(r.peak_mb - idle, 1)
        if r.attack != "idle" and r.over_idle_mb > OVER_IDLE_LIMIT_MB:
            r.failures.insert(0, f"> {OVER_IDLE_LIMIT_MB:g} MB")
    total = time.monotonic() - begun
    text = table(results, idle) + f"\ntotal {total:.0f} s"
    if args.json:
        print(text, file=sys.stderr)
        figures = [dict(vars(r), verdict=r.verdict) for r in results]
        print(json.dumps({"idle_peak_mb": idle, "total_s": round(total, 1), "attacks": figures}))
    else:
        print(text)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent.parent)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
