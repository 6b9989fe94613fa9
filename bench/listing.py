"""A listing of 200 items where 20 are new: time and requests (not a test).

    .venv/bin/python bench/listing.py [--items 200] [--new 20] [--per-host 2] [--delay 0.5]

A local ministry-like site on 127.0.0.1: a GBK listing page of N items, one
notice page per item (about 20 KB of Chinese text). Check 1 records the first
N - new items as the baseline; then `new` items are published at the top and
check 2 fetches them. Prints wall time and the requests the site saw in check
2, the most requests it had in flight at once, and the shortest gap between
two request starts (the per-host limit and delay in the config).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WATCHER = Path(sys.executable).parent / "watcher"
PROSE = (
    "工业和信息化部关于推动船舶工业高质量发展的通知。各省、自治区、直辖市工业和信息化主管部门："
    * 80
)


class Site:
    def __init__(self, total: int) -> None:
        self.items = [f"/art/{n}.html" for n in range(total, 0, -1)]
        self.shown = self.items
        self.lock = threading.Lock()
        self.log: list[tuple[float, float, str]] = []  # (start, end, path)
        self.in_flight = 0
        self.max_in_flight = 0

    def listing(self) -> bytes:
        rows = "".join(
            f'<li><a href="{p}" title="通知{p.split("/")[-1]}">通知</a>'
            f"<span>2026-11-{1 + i % 28:02d}</span></li>"
            for i, p in enumerate(self.shown)
        )
        head = '<html><head><meta charset="gbk"><title>通知公告</title></head>'
        return f'{head}<body><ul class="list">{rows}</ul></body></html>'.encode("gbk")

    def notice(self, path: str) -> bytes:
        head = f'<html><head><meta charset="gbk"><title>{path}</title></head>'
        body = f'<body><div id="c"><h1>{path}</h1><p>{PROSE}</p></div></body></html>'
        return (head + body).encode("gbk")


def serve(site: Site) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # http.server calls it by this name
            start = time.monotonic()
            with site.lock:
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
            time.sleep(0.02)  # a little server time, so overlapping requests would show
            body = site.listing() if self.path == "/list.html" else site.notice(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=gbk")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with site.lock:
                site.in_flight -= 1
                site.log.append((start, time.monotonic(), self.path))

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--new", type=int, default=20)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.5, help="host_delay, seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    site = Site(args.items)
    site.shown = site.items[args.new :]  # the newest `new` items are not published yet
    server = serve(site)
    port = server.server_address[1]
    with tempfile.TemporaryDirectory(prefix="watcher-listing-") as tmp:
        work = Path(tmp)
        (work / "targets.yaml").write_text(
            f"settings: {{concurrency: 16, per_host: {args.per_host}, host_delay: {args.delay}}}\n"
            "keywords:\n  shipbuilding: [船舶]\n"
            "targets:\n  - name: notices\n"
            f"    url: http://127.0.0.1:{port}/list.html\n"
            "    follow: {links: 'ul.list li a', select: '#c'}\n",
            encoding="utf-8",
        )
        command = [
            str(WATCHER),
            "--config",
            str(work / "targets.yaml"),
            "--data",
            str(work / "data"),
        ]
        subprocess.run(
            [*command, "check", "--json", "--no-notify"], check=True, capture_output=True
        )
        site.shown = site.items
        site.log.clear()
        site.max_in_flight = 0
        started = time.monotonic()
        done = subprocess.run(
            [*command, "check", "--json", "--no-notify"], check=True, capture_output=True, text=True
        )
        wall = time.monotonic() - started
    server.shutdown()
    line = json.loads(done.stdout.splitlines()[0])
    starts = sorted(s for s, _, _ in site.log)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    figures = {
        "items": args.items,
        "new": args.new,
        "per_host": args.per_host,
        "host_delay_s": args.delay,
        "wall_s": round(wall, 2),
        "requests": len(site.log),
        "documents_reported": len(line["documents"]),
        "deferred": line["deferred"],
        "max_in_flight": site.max_in_flight,
        "min_gap_between_starts_s": round(min(gaps), 3) if gaps else None,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"listing of {args.items} items, {args.new} new: {figures['wall_s']} s, "
        f"{figures['requests']} requests (1 listing + {figures['requests'] - 1} documents), "
        f"{figures['documents_reported']} documents reported, {figures['deferred']} deferred; "
        f"at most {figures['max_in_flight']} requests in flight (per_host {args.per_host}), "
        f"shortest gap between request starts {figures['min_gap_between_starts_s']} s "
        f"(host_delay {args.delay} s)"
    )


if __name__ == "__main__":
    main()
