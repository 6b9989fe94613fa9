"""Blobs in the data folder against blobs in a bucket: put and get throughput and
milliseconds per capture on ``--pages`` typical pages of the generated site
(bench/govsite.py: median about 20 KB, half UTF-8, half GBK), each capture two
blobs, raw and text, as a check stores them.

The bucket is moto's S3 server on loopback, in a process of its own, so the figures
are watcher's client cost plus one local round trip per request, not a real
network's. ``put``: compress and store both blobs of each capture (local: with
fsync, as the service does), one capture after the other as one analysis worker
does; ``put ×4``: four captures at once (four workers). ``get``: read each
capture's raw blob back, checked against its SHA-256; ``check``: what ``watcher
verify`` does per blob (streamed, nothing kept).

    .venv/bin/python bench/blobs_s3.py [--pages 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from govsite import generate_pages  # noqa: E402

from watcher.store.blobs import BlobLocation, BlobStore, compress, open_blobs, sha256  # noqa: E402

TAGS_RE = re.compile(r"<[^>]*>")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(port: int) -> subprocess.Popen[bytes]:
    code = (
        "from moto.server import ThreadedMotoServer\n"
        f"s = ThreadedMotoServer(ip_address='127.0.0.1', port={port}, verbose=False)\n"
        "s.start()\nimport threading; threading.Event().wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto's server did not start")


def captures(count: int) -> list[tuple[bytes, bytes]]:
    """(raw, text) of each page: the text is the page without its tags."""
    out = []
    for page in generate_pages(count, 1, seed=7):
        text = TAGS_RE.sub("", page.body.decode(page.codec, "replace"))
        out.append((page.body, "\n".join(t for t in text.split() if t).encode()))
    return out


def put_one(blobs: BlobStore, raw: bytes, text: bytes) -> None:
    blobs.put_frames({sha256(raw): compress(raw), sha256(text): compress(text)})


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(name: str, blobs: BlobStore, pages: list[tuple[bytes, bytes]]) -> list[str]:
    half = len(pages) // 2
    first, second = pages[:half], pages[half:]
    mb = sum(len(r) + len(t) for r, t in pages) / 1e6
    put = timed(lambda: [put_one(blobs, r, t) for r, t in first])
    with ThreadPoolExecutor(4) as pool:
        put4 = timed(lambda: list(pool.map(lambda p: put_one(blobs, *p), second)))
    digests = [sha256(r) for r, _ in pages]
    get = timed(lambda: [blobs.get(d) for d in digests])
    check = timed(lambda: [blobs.check(d) for d in digests])
    raw_mb = sum(len(r) for r, _ in pages) / 1e6
    rows = [
        (f"{name} put", mb / 2, put, len(first)),
        (f"{name} put ×4", mb / 2, put4, len(second)),
        (f"{name} get", raw_mb, get, len(pages)),
        (f"{name} check", raw_mb, check, len(pages)),
    ]
    return [
        f"{what:<16} {size / seconds:8.1f} MB/s {seconds * 1000 / n:8.2f} ms/capture"
        f" {seconds:7.2f} s"
        for what, size, seconds, n in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    args = parser.parse_args()
    pages = captures(args.pages)
    sizes = sorted(len(r) for r, _ in pages)
    print(
        f"{len(pages)} captures: raw median {sizes[len(sizes) // 2] / 1000:.1f} KB, "
        f"{sum(sizes) / 1e6:.1f} MB raw, "
        f"{sum(len(t) for _, t in pages) / 1e6:.1f} MB text (uncompressed figures)"
    )
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        local = open_blobs(BlobLocation(root=Path(folder) / "blobs", fsync=True))
        lines += measure("local", local, pages)
    port = free_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1"
    )
    server = start_moto(port)
    try:
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench")
        bucket = open_blobs(BlobLocation(url="s3://bench/blobs", endpoint=endpoint))
        lines += measure("s3 (moto)", bucket, pages)
    finally:
        server.kill()
        server.wait()
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
