"""Analysis in worker processes: same results as in a thread, and a dead worker is survived."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.resource_tracker
import os
import signal
from pathlib import Path

import pytest
from clock import eventually, eventually_sync

from watcher.analysis.analyse import ExtractionProblem, Page
from watcher.analysis.workers import Ahead, ProcessAnalyzer, ThreadAnalyzer, make_analyzer
from watcher.store.blobs import LocalBlobStore


def cpu_ticks(pid: int) -> int:
    """Clock ticks of CPU a process has used (user + system), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def reaped(pid: int) -> bool:
    """Whether a dead worker has been reaped: the pool's manager thread joins it once it
    has marked the pool broken, so the death has been noticed."""
    return not Path(f"/proc/{pid}").exists()


KEYWORDS = {"shipbuilding": ["船舶"], "sastind": ["国防科工局"]}
PAGE = Page(
    body="<html><head><title>通知</title></head><body><p>国防科工局：船舶工业。</p></body></html>".encode(
        "gbk"
    ),
    content_type="text/html; charset=gbk",
    final_url="http://127.0.0.1/n.html",
    groups=("shipbuilding", "sastind"),
)


def test_process_and_thread_analysis_agree_and_store_the_blobs(tmp_path: Path) -> None:
    async def both():
        threads = ThreadAnalyzer(KEYWORDS, tmp_path / "a")
        processes = ProcessAnalyzer(KEYWORDS, tmp_path / "b", workers=1)
        try:
            return await threads.analyse(PAGE), await processes.analyse(PAGE)
        finally:
            threads.close()
            processes.close()

    in_thread, in_process = asyncio.run(both())
    assert in_thread == in_process
    assert in_process.title == "通知"
    assert [h.term for h in in_process.hits] == ["国防科工局", "船舶"]
    text = LocalBlobStore(tmp_path / "b").get(in_process.text_sha256).decode()
    assert text == "通知\n国防科工局：船舶工业。"  # the title line, then the body
    assert LocalBlobStore(tmp_path / "b").get(in_process.raw_sha256) == PAGE.body


def test_extraction_problems_cross_the_process_boundary(tmp_path: Path) -> None:
    page = Page(
        body=b"<p>x</p>", content_type="text/html", final_url="http://127.0.0.1/", select=("#gone",)
    )

    async def run():
        analyzer = ProcessAnalyzer(KEYWORDS, tmp_path, workers=1)
        try:
            await analyzer.analyse(page)
        finally:
            analyzer.close()

    with pytest.raises(ExtractionProblem, match="#gone"):
        asyncio.run(run())


def test_a_worker_killed_mid_page_costs_no_page(tmp_path: Path) -> None:
    """The pages of a batch whose worker died get one more try on a fresh pool."""
    big = Page(
        body=("<p>" + "正文内容，没有关键词。" * 100 + "</p>\n").encode()
        * 6000,  # ~18 MB, about a second of parsing
        content_type="text/html; charset=utf-8",
        final_url="http://127.0.0.1/big",
    )

    async def run():
        analyzer = ProcessAnalyzer(KEYWORDS, tmp_path, workers=1)
        try:
            await analyzer.analyse(PAGE)  # the worker is up
            (pid,) = list(analyzer._pool._processes)
            idle = cpu_ticks(pid)
            busy = asyncio.ensure_future(analyzer.analyse(big))
            # killed once it has worked on the page a while (5 ticks: 50 ms), however
            # long a busy machine took to hand it over
            await eventually(lambda: cpu_ticks(pid) >= idle + 5, "the worker to be at work")
            assert not busy.done()
            os.kill(pid, signal.SIGKILL)
            assert (await busy).title == ""  # analysed again, by a new worker
            assert pid not in analyzer._pool._processes
            return await analyzer.analyse(PAGE)
        finally:
            analyzer.close()

    assert asyncio.run(run()).title == "通知"


def test_a_worker_that_died_idle_costs_no_page(tmp_path: Path) -> None:
    async def run():
        analyzer = ProcessAnalyzer(KEYWORDS, tmp_path, workers=1)
        try:
            await analyzer.analyse(PAGE)
            (pid,) = list(analyzer._pool._processes)
            os.kill(pid, signal.SIGKILL)
            await eventually(lambda: reaped(pid), "the pool to notice the death")
            return await analyzer.analyse(PAGE)
        finally:
            analyzer.close()

    assert asyncio.run(run()).title == "通知"


async def test_many_pages_in_batches_each_get_their_own_outcome(tmp_path: Path) -> None:
    analyzer = ProcessAnalyzer(KEYWORDS, tmp_path, workers=1)
    bad = Page(
        body=b"<p>x</p>", content_type="text/html", final_url="http://127.0.0.1/", select=("#no",)
    )
    try:
        outcomes = await asyncio.gather(
            *(analyzer.analyse(bad if i % 5 == 0 else PAGE) for i in range(40)),
            return_exceptions=True,
        )
    finally:
        analyzer.close()
    assert [isinstance(o, ExtractionProblem) for o in outcomes] == [i % 5 == 0 for i in range(40)]
    assert all(o.title == "通知" for o in outcomes if not isinstance(o, Exception))


def test_few_pages_use_a_thread_many_use_processes(tmp_path: Path) -> None:
    few = make_analyzer(KEYWORDS, tmp_path, pages=3)
    many = make_analyzer(KEYWORDS, tmp_path, pages=500, workers=1)
    try:
        assert isinstance(few, ThreadAnalyzer)
        assert isinstance(many, ProcessAnalyzer)
    finally:
        few.close()
        many.close()


def test_binary_files_are_named_by_kind_size_and_hash() -> None:
    """A file that cannot be read (here: a broken PDF) is still described, so a new
    version of it is a change; the note says why its text is missing."""
    import zstandard

    from watcher.analysis.analyse import analyse as run_analysis
    from watcher.keywords import KeywordMatcher

    matcher = KeywordMatcher(KEYWORDS)
    body = b"%PDF-1.7\n" + bytes(range(256)) * 40
    pdf = Page(body=body, content_type="application/octet-stream", final_url="http://127.0.0.1/a")
    first, frames = run_analysis(pdf, None, matcher)
    assert first.encoding == "binary"
    text = zstandard.ZstdDecompressor().decompress(frames[first.text_sha256]).decode()
    assert text.startswith("[pdf, 10,249 bytes, sha256 ")  # by its magic bytes
    assert "truncated PDF" in text
    edited = Page(body=body + b"x", content_type="application/pdf", final_url=pdf.final_url)
    assert run_analysis(edited, None, matcher)[0].text_sha256 != first.text_sha256
    xhtml = Page(
        body="<p>船舶</p>".encode(), content_type="application/xhtml+xml", final_url=pdf.final_url
    )
    assert run_analysis(xhtml, None, matcher)[0].encoding != "binary"


def test_release_stops_idle_workers_and_the_next_page_starts_them_again(tmp_path: Path) -> None:
    """A service between cycles gives the workers' memory back."""

    def children() -> set[int]:
        path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
        return {int(p) for p in path.read_text().split()}

    async def run():
        # multiprocessing's resource tracker, started by the first spawn of this process
        # and kept, is not a worker (the test failed when it ran before any other spawn)
        multiprocessing.resource_tracker.ensure_running()
        before = children()
        analyzer = ProcessAnalyzer(KEYWORDS, tmp_path, workers=1)
        try:
            first = await analyzer.analyse(PAGE)
            workers = children() - before
            analyzer.release()
            await eventually(lambda: not children() & workers, "the workers to stop")
            again = await analyzer.analyse(PAGE)
            return first, again, workers, not children() & workers
        finally:
            analyzer.close()

    first, again, workers, gone = asyncio.run(run())
    assert workers and gone
    assert again == first


def test_a_batch_with_a_big_page_gives_the_freed_heap_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parsing a big page leaves megabytes of freed heap in the worker; the batch that
    had one asks malloc to return it, a batch of small pages does not pay for that."""
    from watcher.analysis import analyse
    from watcher.core import heap

    analyse.init(KEYWORDS, tmp_path)
    trims: list[int] = []
    monkeypatch.setattr(heap, "trim", lambda: trims.append(1))
    big = Page(
        body=("<p>国防科工局：船舶工业。</p>" * 20_000).encode(),
        content_type="text/html; charset=utf-8",
        final_url="http://127.0.0.1/big.html",
        groups=("shipbuilding",),
    )
    assert len(big.body) >= analyse.TRIM_AFTER_BYTES
    small = analyse.run_many([PAGE, PAGE])
    assert trims == [] and [a.title for a in small] == ["通知", "通知"]
    outcomes = analyse.run_many([PAGE, big])
    assert trims == [1] and outcomes[1].text_size > analyse.TRIM_AFTER_BYTES
    monkeypatch.undo()
    assert heap.trim()  # glibc here: found and called, not skipped


def test_a_batch_stores_its_blobs_beside_the_parsing_and_a_failed_write_fails_its_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's blob writes wait on the disk (fsync); they run in threads while the
    next page is parsed, each page's as ``run`` writes them, and a page whose blobs
    could not be written is that page's error, not a capture."""
    import threading

    from watcher.analysis import analyse

    analyse.init(KEYWORDS, tmp_path)
    real = analyse._context
    assert real is not None
    both_writing = threading.Barrier(2, timeout=10)  # two writes in flight at once

    class Disk:
        """The real blob store, whose writes of the first two pages meet each other, and
        whose write of the third page's bytes finds the disk full."""

        def __init__(self) -> None:
            self.writes = 0

        def __getattr__(self, name: str) -> object:
            return getattr(real.blobs, name)

        def put_frames(self, frames: dict[str, bytes]) -> None:
            self.writes += 1
            if self.writes <= 2:
                both_writing.wait()
            if full in frames:
                raise OSError(28, "No space left on device")
            real.blobs.put_frames(frames)

    other = Page(
        body="<html><title>公告</title><p>船舶工业的另一页。</p></html>".encode(),
        content_type="text/html; charset=utf-8",
        final_url="http://127.0.0.1/o.html",
    )
    third = Page(
        body="<html><title>第三</title><p>第三页。</p></html>".encode(),
        content_type="text/html; charset=utf-8",
        final_url="http://127.0.0.1/t.html",
    )
    full = analyse.sha256(third.body)
    monkeypatch.setattr(analyse, "_context", analyse.Context(real.matcher, Disk()))
    outcomes = analyse.run_many([PAGE, other, third])
    first, second, failed = outcomes
    assert isinstance(failed, OSError) and "No space" in str(failed)
    assert isinstance(first, analyse.Analysis) and isinstance(second, analyse.Analysis)
    store = LocalBlobStore(tmp_path)
    for analysis, page in ((first, PAGE), (second, other)):
        assert store.get(analysis.raw_sha256) == page.body
        assert store.exists(analysis.text_sha256)
    assert not store.exists(full)


STOP_SCRIPT = """
import asyncio, os, sys
from pathlib import Path
from watcher.analysis.workers import ProcessAnalyzer
from watcher.analysis.analyse import Page

async def main():
    analyzer = ProcessAnalyzer({"k": ["船舶"]}, Path(sys.argv[1]), 2)
    analyzer.warm_up()
    page = Page(body=("<p>船舶</p>" * 20000).encode(), content_type="text/html",
                final_url="http://127.0.0.1/")
    pending = [asyncio.ensure_future(analyzer.analyse(page)) for _ in range(16)]
    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)  # workers busy
    print(*analyzer._pool._processes, flush=True)
    analyzer.close(abandon=True)

if __name__ == "__main__":  # the spawned workers import this file too
    asyncio.run(main())
    os._exit(0)  # as watcher run leaves after a clean stop
"""


def test_an_abandoning_stop_ends_the_workers_and_leaks_nothing(tmp_path: Path) -> None:
    """A stop that abandons the pages in analysis ends the workers, so none outlives
    the service (they used to wait for work for ever once it left), and the pool's
    semaphores are released: no "leaked semaphore" warning."""
    import subprocess
    import sys

    script = tmp_path / "stop.py"
    script.write_text(STOP_SCRIPT, "utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "blobs")],
        capture_output=True,
        text=True,
        timeout=120,  # a worker left alive holds the pipes open: this would time out
    )
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr, done.stderr
    for pid in map(int, done.stdout.split()):
        eventually_sync(lambda pid=pid: reaped(pid) or _zombie(pid), f"worker {pid} to end")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True


KILLED_SCRIPT = """
import asyncio, os, sys, time
from pathlib import Path
from watcher.analysis.workers import ProcessAnalyzer

async def main():
    analyzer = ProcessAnalyzer({"k": ["船舶"]}, Path(sys.argv[1]), 2)
    analyzer.warm_up()
    while len(analyzer._pool._processes) < 2:
        await asyncio.sleep(0.05)
    print(*analyzer._pool._processes, flush=True)
    await asyncio.sleep(3600)  # killed here

if __name__ == "__main__":  # the spawned workers import this file too
    asyncio.run(main())
"""


def test_workers_end_when_their_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves a process no chance to stop its workers (`watcher check` killed by
    the OOM killer, a `docker kill`): they notice its end and leave, not wait for ever."""
    import subprocess
    import sys

    script = tmp_path / "killed.py"
    script.write_text(KILLED_SCRIPT, "utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "blobs")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        workers = [int(pid) for pid in proc.stdout.readline().split()]
        assert len(workers) == 2
        assert not any(reaped(pid) or _zombie(pid) for pid in workers)  # alive
        proc.kill()
        proc.wait(timeout=30)
        for pid in workers:
            eventually_sync(lambda pid=pid: reaped(pid) or _zombie(pid), f"worker {pid} to end")
    finally:
        if proc.poll() is None:
            proc.kill()


LOADED_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from watcher.analysis.workers import ProcessAnalyzer
from watcher.analysis.analyse import Page

def loaded():
    return sorted(m for m in ("sqlalchemy", "pydantic", "yaml", "httpx") if m in sys.modules)

async def main():
    analyzer = ProcessAnalyzer({"k": ["船舶", "issuer:工业和信息化部"]}, Path(sys.argv[1]), 1)
    page = Page(body=("<p>船舶</p>" * 2000).encode(), content_type="text/html",
                final_url="http://127.0.0.1/")
    analysis = await analyzer.analyse(page)  # a page read: the worker has its parsers
    print(json.dumps([analysis.raw_sha256 is not None, analyzer._pool.submit(loaded).result()]))
    analyzer.close()

if __name__ == "__main__":  # the spawned worker imports this file too
    asyncio.run(main())
"""


def test_a_worker_loads_neither_the_store_the_config_models_nor_http(tmp_path: Path) -> None:
    """Each worker is a whole interpreter: SQLAlchemy, pydantic, PyYAML and httpx would
    be about 30 MB in every one of them, for nothing a page's analysis does."""
    import json
    import subprocess
    import sys

    script = tmp_path / "loaded.py"
    script.write_text(LOADED_SCRIPT, "utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "blobs")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [True, []]


async def test_an_analysis_begun_early_is_taken_only_for_an_equal_page(tmp_path: Path) -> None:
    """``Ahead``: a page begun before the check asks is taken for that same page; a
    page that differs in anything, if only its keyword groups, is analysed anew, and an
    early page's own failure is its outcome."""
    from dataclasses import replace

    ahead = Ahead(ProcessAnalyzer(KEYWORDS, tmp_path, workers=1))
    edited = Page(
        body=PAGE.body.replace("船舶".encode("gbk"), "造船".encode("gbk")),
        content_type=PAGE.content_type,
        final_url=PAGE.final_url,
        groups=PAGE.groups,
    )
    bad = Page(
        body=b"<p>x</p>", content_type="text/html", final_url="http://127.0.0.1/", select=("#no",)
    )
    try:
        ahead.begin([PAGE, edited, bad])
        assert ahead.begun == 3
        same = await ahead.analyse(PAGE)
        # the same answer, but another page than the one begun (another keyword group)
        other = await ahead.analyse(replace(edited, groups=("shipbuilding",)))
        with pytest.raises(ExtractionProblem, match="#no"):
            await ahead.analyse(bad)
    finally:
        ahead.close()
    assert ahead.taken == 2 and ahead.begun == 0  # PAGE's and bad's; edited's was let go
    assert same.title == "通知" and [h.term for h in same.hits] == ["国防科工局", "船舶"]
    assert other.title == "通知" and other.hits == ()  # not edited's early ["国防科工局"]
