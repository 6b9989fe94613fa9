"""What checking a blob's SHA-256 on every read costs: one capture of a 20 MB page
(``--mb``; generated Chinese notice prose, its text the same size), then the time of
``LocalBlobStore.get`` split into decompression and hashing, and the server time of
``/c/{id}``, ``/c/{id}/raw`` and ``/c/{id}/download`` in-process (Starlette's
TestClient): median of ``--runs`` after one warm-up.

    .venv/bin/python bench/blobs.py [--mb 20] [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import zstandard  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from watcher.store.index import CheckRecord, NewCapture, Store  # noqa: E402
from watcher.web.app import create_app  # noqa: E402

SENTENCE = "工业和信息化部关于加快船舶工业高质量发展的通知，各省、自治区、直辖市主管部门。\n"


def median_ms(action, runs: int) -> float:  # type: ignore[no-untyped-def]
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    line = len(f"0000000 {SENTENCE}".encode())
    text = "".join(f"{i:07d} {SENTENCE}" for i in range(size // line + 1))
    raw = f"<html><body><pre>{text}</pre></body></html>".encode()
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder), fsync=False) as store:
        state = store.target_state("big", "http://127.0.0.1/big")
        now = datetime.now(UTC)
        new = NewCapture(
            state.id, "new", "http://127.0.0.1/big", "http://127.0.0.1/big", 200, [], now, 0.1,
            raw, text, content_type="text/html; charset=utf-8",
        )  # fmt: skip
        capture_id = store.save_capture(new, CheckRecord(state.id, now, "new", 0.1, 200))
        capture = store.capture(capture_id)
        frame = store.blobs.path(capture.raw_sha256).read_bytes()
        plain = zstandard.ZstdDecompressor().decompress(frame)
        print(f"raw {len(raw) / 1e6:.1f} MB, text {capture.text_size / 1e6:.1f} MB")
        timed = {
            "decompress raw": lambda: zstandard.ZstdDecompressor().decompress(frame),
            "sha256 raw": lambda: hashlib.sha256(plain).hexdigest(),
            "blobs.get raw": lambda: store.blobs.get(capture.raw_sha256),
        }
        for label, action in timed.items():
            print(f"{label:21} {median_ms(action, args.runs):7.1f} ms")
        with TestClient(create_app(Path(folder)), base_url="http://127.0.0.1") as client:
            for path in (f"/c/{capture_id}", f"/c/{capture_id}/raw", f"/c/{capture_id}/download"):
                ms = median_ms(lambda p=path: client.get(p).raise_for_status(), args.runs)
                print(f"GET {path.replace(capture_id, '{id}'):17} {ms:7.1f} ms")


if __name__ == "__main__":
    main()
