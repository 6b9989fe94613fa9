"""What a `watcher` command costs before it does anything: CPU seconds of the child.

Prints the CPU time (user + sys of the child, from ``os.wait4``; median of 5) of
`watcher --version`, `watcher validate`, and `watcher check NAME` of one unchanged
page served on 127.0.0.1 (the first run stores it; the timed runs find it unchanged),
then the imports of that check with the most cumulative time (``python -X
importtime``). A figure is a start-up cost a one-off ``check`` pays every time.

The goal (≤ 0.35 s) was set on a machine where urlwatch's ``--version`` cost 0.32 s.
Machines here are shared and their speed varies two- or threefold between days, so
the same run also times urlwatch (its own venv, as ``bench/run.py`` makes it):
``--version`` and urlwatch's run of the same one unchanged page. The goal is then
also read as a ratio: ``check`` ≤ 0.35 / 0.32 of urlwatch's ``--version``
(``--no-urlwatch`` skips it).

    .venv/bin/python bench/startup.py
    .venv/bin/python bench/startup.py --python ../other/.venv/bin/python   # another tree
    .venv/bin/python bench/startup.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import urlwatch_env
from govsite import SiteServer

TARGET_CHECK_CPU = 0.35  # seconds, the goal for `check` of one unchanged page
# urlwatch's --version where that goal was set: the goal as a ratio to it
URLWATCH_VERSION_THEN = 0.32
WORK = Path(__file__).resolve().parent / ".work"


def cpu_seconds(command: list[str], cwd: Path) -> float:
    """User + sys CPU of one run of ``command`` (and the children it waited for)."""
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}: {err.decode()[-600:]}")
    return usage.ru_utime + usage.ru_stime


def median_cpu(command: list[str], cwd: Path, runs: int) -> float:
    return statistics.median(cpu_seconds(command, cwd) for _ in range(runs))


def top_imports(command: list[str], cwd: Path, count: int) -> list[tuple[float, int, str]]:
    """(cumulative ms, nesting depth, module) of the costliest imports of ``command``."""
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]], cwd=cwd, capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        rows.append((int(cumulative) / 1000, depth, name.strip()))
    return sorted(rows, reverse=True)[:count]


def precompile(python: str) -> None:
    """Byte-compile the package of ``python``'s tree, as installing does (see run.py)."""
    code = (
        "import compileall, os, watcher;"
        " compileall.compile_dir(os.path.dirname(watcher.__file__), quiet=1)"
    )
    subprocess.run([python, "-c", code], check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--python", default=sys.executable, help="the interpreter of the tree to time")
    p.add_argument("--runs", type=int, default=5, help="runs per command (median)")
    p.add_argument("--top", type=int, default=15, help="imports listed")
    p.add_argument("--json", action="store_true", help="figures as JSON on stdout")
    p.add_argument("--no-urlwatch", action="store_true", help="skip urlwatch's reference")
    args = p.parse_args(argv)
    precompile(args.python)
    urlwatch = None if args.no_urlwatch else urlwatch_env.ensure_venv(WORK / "urlwatch-venv")
    with SiteServer(count=1, hosts=1) as site, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        page = site.pages[0]
        (work / "targets.yaml").write_text(
            "keywords:\n  shipbuilding: [船舶, 造船]\n  sastind: [国防科工局]\n"
            f"targets:\n  - name: {page.name}\n    url: {page.url}\n",
            "utf-8",
        )
        watcher = [args.python, "-m", "watcher", "--data", str(work / "snapshots")]
        check = [*watcher, "check", page.name]
        cpu_seconds(check, work)  # the first run stores the page
        figures = {
            "version": median_cpu([*watcher, "--version"], work, args.runs),
            "validate": median_cpu([*watcher, "validate"], work, args.runs),
            "check_unchanged": median_cpu(check, work, args.runs),
        }
        if urlwatch is not None:
            urlwatch_env.write_jobs([page], work / "jobs.yaml")
            urlwatch_env.write_config(work / "urlwatch.yaml")
            run_urlwatch = urlwatch_env.command(urlwatch, work)
            cpu_seconds(run_urlwatch, work)  # the first run stores the page
            figures["urlwatch_version"] = median_cpu([str(urlwatch), "--version"], work, args.runs)
            figures["urlwatch_unchanged"] = median_cpu(run_urlwatch, work, args.runs)
        imports = top_imports(check, work, args.top)
    if args.json:
        print(json.dumps({"cpu_seconds": figures, "top_imports": imports}))
        return 0
    print(f"CPU seconds (user + sys of the child, median of {args.runs}):")
    for name, label in [
        ("version", "watcher --version"),
        ("validate", "watcher validate"),
        ("check_unchanged", "watcher check NAME (one unchanged page)"),
    ]:
        print(f"  {figures[name]:6.3f}  {label}")
    if "urlwatch_version" in figures:
        print(f"  {figures['urlwatch_version']:6.3f}  urlwatch --version")
        print(f"  {figures['urlwatch_unchanged']:6.3f}  urlwatch of the same unchanged page")
    met = "met" if figures["check_unchanged"] <= TARGET_CHECK_CPU else "NOT met"
    print(f"  target: check ≤ {TARGET_CHECK_CPU} s: {met}")
    if "urlwatch_version" in figures:
        ratio = figures["check_unchanged"] / figures["urlwatch_version"]
        goal = TARGET_CHECK_CPU / URLWATCH_VERSION_THEN
        met = "met" if ratio <= goal else "NOT met"
        print(
            f"  as a ratio: check ÷ urlwatch --version = {ratio:.2f} (goal ≤ {goal:.2f}): {met};"
            f" check ÷ urlwatch's same check = "
            f"{figures['check_unchanged'] / figures['urlwatch_unchanged']:.2f}"
        )
    print("\ntop imports of that check by cumulative time (ms, one run of -X importtime):")
    for ms, depth, name in imports:
        print(f"  {ms:7.1f}  {'  ' * depth}{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
