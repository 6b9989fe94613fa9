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
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
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
    )


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
