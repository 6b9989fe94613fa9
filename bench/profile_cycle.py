"""Profile one watcher cycle on the generated site with py-spy (not a test).

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile_cycle.py [--pages 1000] [--cycles 1|2|3]
        [--hosts 1] [--latency-ms 0] [--concurrency 16] [--workers]

Writes a flame graph per cycle to bench/.work/profile/cycleN.svg and a
``--format raw`` collapsed-stack file next to it, and prints wall and CPU time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from govsite import SiteServer
from watcher_env import check_command, precompile, write_targets

WORK = Path(__file__).resolve().parent / ".work" / "profile"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-spy", action="store_true", help="time only")
    parser.add_argument("--workers", action="store_true", help="profile the workers too")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    spy = Path(sys.executable).parent / "py-spy"
    precompile()
    with SiteServer(args.pages, args.hosts, latency_ms=args.latency_ms) as site:
        write_targets(site.pages, WORK / "targets.yaml", args.concurrency)
        for cycle in range(1, args.cycles + 1):
            if cycle == 3:
                site.mutate(0.10)
            command = check_command(WORK)
            if not args.no_spy:
                out = WORK / f"cycle{cycle}"
                command = [
                    str(spy),
                    "record",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    *(["--subprocesses"] if args.workers else []),
                    "-o",
                    f"{out}.txt",
                    "--",
                    *command,
                ]
            before = os.times()
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, check=False)
            wall = time.perf_counter() - started
            after = os.times()
            cpu = (after.children_user - before.children_user) + (
                after.children_system - before.children_system
            )
            print(f"cycle {cycle}: wall {wall:.2f} s, CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
