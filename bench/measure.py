"""Run one command as a child process and measure it: wall time, CPU time, peak RSS.

CPU and peak RSS come from ``os.wait4`` on the child, so they cover the child and
every descendant it waited for, and nothing of the benchmark process itself (nor
of the site server, which runs in its own process). One caveat: Linux starts a
child's ``ru_maxrss`` at the peak RSS of the process that forked it, so a figure
at or below ``rss_floor_mb`` (the benchmark's own peak) means "at most that".
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Measurement:
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    returncode: int
    timed_out: bool
    rss_floor_mb: float = 0.0  # the launching process's own peak RSS
    tree_rss_mb: float = 0.0  # peak of the summed RSS of the child and its descendants
    tree_pss_mb: float = 0.0  # the same with PSS: pages shared between them counted once

    @property
    def rss_exact(self) -> bool:
        return self.peak_rss_mb > self.rss_floor_mb * 1.02

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def run_measured(
    cmd: Sequence[str],
    *,
    stdout: Path,
    stderr: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
) -> Measurement:
    """Run ``cmd`` with output to files; kill its process group after ``timeout`` s."""
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                start_new_session=True,  # its own process group, so a timeout kills all of it
            )
        except OSError as exc:  # e.g. the command is not installed
            err.write(f"cannot start {cmd[0]}: {exc}\n".encode())
            return Measurement(0.0, 0.0, 0.0, 0.0, returncode=127, timed_out=False)
        expired = threading.Event()
        timer = threading.Timer(timeout, _kill_group, args=(proc.pid, expired))
        timer.daemon = True
        timer.start()
        sampler = _TreeRss(proc.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            sampler.stop()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Measurement(
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        returncode=proc.returncode,
        timed_out=expired.is_set(),
        rss_floor_mb=floor,
        tree_rss_mb=sampler.peak_mb,
        tree_pss_mb=sampler.peak_pss_mb,
    )


class _TreeRss(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every 20 ms.

    ``ru_maxrss`` is per process: a tool with worker processes would look smaller
    than it is. This sums them (a sample can miss a short peak, never overstate).
    RSS summed counts shared pages (interpreter, libraries) once per process; PSS
    splits them between the processes, so its sum is what the tool costs the
    machine.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self.peak_pss_mb = 0.0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02):
            pids = _descendants(self.pid)
            self.peak_mb = max(self.peak_mb, sum(_rss_kb(p) for p in pids) / 1024)
            self.peak_pss_mb = max(self.peak_pss_mb, sum(_pss_kb(p) for p in pids) / 1024)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError, ValueError):
                    todo += [
                        int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()
                    ]
    return found


def _pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _kill_group(pid: int, expired: threading.Event) -> None:
    expired.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def tree_size(path: Path) -> tuple[int, int]:
    """(apparent bytes, bytes allocated on disk) of a file or a directory tree."""
    paths = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    apparent = allocated = 0
    for p in paths:
        st = p.stat()
        apparent += st.st_size
        allocated += st.st_blocks * 512
    return apparent, allocated


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a text file (for showing a tool's failure)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])
