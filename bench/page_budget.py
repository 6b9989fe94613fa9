"""Peak memory and time of hostile pages: one 19.2 MB page of ``<p>x</p>``
analysed alone, and six of them in one ``watcher check`` (a thread analyser).
``--shape words`` makes the page paragraphs of 100 bytes of Latin words instead
(192,000 tags: just under the default budget of 200,000).

Each measurement runs in a fresh process; peak memory is its high-water RSS
(``VmHWM``, or the child's ``ru_maxrss``), with the same process's RSS before
the page was read given as the baseline.

    .venv/bin/python bench/page_budget.py [--mb 19.2] [--pages 6] [--max-elements N]
        [--shape tiny|words]
"""

from __future__ import annotations

import argparse
import http.server
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_PAGE = """
import sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {root!r})
from watcher.analysis import analyse

def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

body = {piece!r} * int({mb} * 1_000_000 / len({piece!r}))
analyse.init({{"g": ["船舶", "re:军民(两用|结合)"]}}, Path(tempfile.mkdtemp()), fsync=False)
before = rss("VmRSS")
started = time.perf_counter()
try:
    analyse.run(analyse.Page(body=body, content_type="text/html", final_url="http://127.0.0.1/big"{extra}))
    outcome = "analysed"
except Exception as exc:
    outcome = f"{{type(exc).__name__}}: {{exc}}"
print(before, rss("VmHWM"), time.perf_counter() - started, outcome, sep="\\t")
"""


PIECES = {"tiny": b"<p>x</p>", "words": b"<p>" + b"watching " * 10 + b"page</p>"}


def one_page(mb: float, max_elements: int | None, piece: bytes) -> None:
    extra = f", max_elements={max_elements}" if max_elements else ""
    script = ONE_PAGE.format(root=str(ROOT), mb=mb, extra=extra, piece=piece)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        return
    before, peak, seconds, outcome = out.stdout.strip().split("\t", 3)
    print(
        f"one {mb} MB page: peak {float(peak):.0f} MB RSS ({float(before):.0f} MB before it), "
        f"{float(seconds):.2f} s; {outcome[:160]}"
    )


def six_pages(mb: float, pages: int, max_elements: int | None, piece: bytes) -> None:
    body = piece * int(mb * 1_000_000 / len(piece))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    work = Path(tempfile.mkdtemp())
    limit = f"  max_elements: {max_elements}\n" if max_elements else ""
    targets = "".join(
        f"  - name: big-{i}\n    url: http://127.0.0.1:{port}/big/{i}\n" for i in range(pages)
    )
    (work / "targets.yaml").write_text(
        "settings: {host_delay: 0, per_host: 16}\n"
        f"defaults:\n  max_size: 40MB\n  timeout: 120s\n{limit}targets:\n{targets}"
    )
    command = [str(ROOT / ".venv/bin/watcher"), "--config", str(work / "targets.yaml")]
    command += ["--data", str(work / "snapshots"), "check", "--json"]
    started = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    server.shutdown()
    statuses = []
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            statuses.append(f"{row.get('status')}: {(row.get('error') or '')[:100]}")
    print(
        f"{pages} pages of {mb} MB in one check: peak {peak:.0f} MB RSS, {seconds:.2f} s, "
        f"exit {out.returncode}"
    )
    for status in sorted(set(statuses)):
        print(f"  {statuses.count(status)} × {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=19.2)
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--max-elements", type=int, default=None, help="raise the budget")
    parser.add_argument("--shape", choices=sorted(PIECES), default="tiny")
    args = parser.parse_args()
    one_page(args.mb, args.max_elements, PIECES[args.shape])
    six_pages(args.mb, args.pages, args.max_elements, PIECES[args.shape])


if __name__ == "__main__":
    main()
