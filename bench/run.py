"""Benchmark watcher against urlwatch on a generated local government site.

Three cycles on the same pages, each tool with its own fresh state: 1 all new,
2 unchanged, then 10% of pages are edited and 3 changed. Both tools run back to
back on the same site state in each cycle. Prints a table per cycle and a summary
of the targets (or the figures as JSON with --json).

    .venv/bin/python bench/run.py [--pages 1000] [--hosts 1] [--latency-ms 0]
                                  [--only watcher|urlwatch] [--keep] [--json]
    .venv/bin/python bench/run.py --profile dense [--latency-ms 100]

``--profile dense``: keyword-dense pages on many hosts without validators (see
``govsite.DENSE``), 10 hosts, watcher at concurrency 32 and per_host 4 with the one
keyword group [船舶, 国防科工局, 工业互联网], and its own targets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import urlwatch_env
import watcher_env
from govsite import DENSE_KEYWORDS, PROFILES, PageInfo, SiteServer
from measure import Measurement, run_measured, tail, tree_size

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work"
TOOLS = ("watcher", "urlwatch")
CYCLES = {1: "all new", 2: "unchanged", 3: "changed"}


@dataclass(slots=True)
class Run:
    """One tool in one cycle: measurements, statuses and what it has stored."""

    tool: str
    cycle: int
    m: Measurement
    statuses: dict[str, int]
    wrong: int  # pages whose status is not the expected one
    captures: int | None
    stored_bytes: int
    stored_disk_bytes: int
    failed: bool
    note: str = ""
    errors: dict[str, int] = field(default_factory=dict)
    served: dict[str, int] = field(default_factory=dict)  # responses by status code
    with_hits: int | None = None  # watcher: results that carry keyword hits

    @property
    def kb_per_capture(self) -> float | None:
        return self.stored_bytes / 1024 / self.captures if self.captures else None

    @property
    def disk_kb_per_capture(self) -> float | None:
        return self.stored_disk_bytes / 1024 / self.captures if self.captures else None

    def to_json(self) -> dict[str, object]:
        return {
            "tool": self.tool,
            "cycle": self.cycle,
            "wall_s": round(self.m.wall_s, 3),
            "cpu_s": round(self.m.cpu_s, 3),
            "user_s": round(self.m.user_s, 3),
            "sys_s": round(self.m.sys_s, 3),
            "peak_rss_mb": round(self.m.peak_rss_mb, 1),
            "peak_tree_rss_mb": round(self.m.tree_rss_mb, 1),
            "peak_tree_pss_mb": round(self.m.tree_pss_mb, 1),
            "rss_floor_mb": round(self.m.rss_floor_mb, 1),
            "returncode": self.m.returncode,
            "timed_out": self.m.timed_out,
            "statuses": self.statuses,
            "wrong_status": self.wrong,
            "captures": self.captures,
            "stored_bytes": self.stored_bytes,
            "stored_disk_bytes": self.stored_disk_bytes,
            "kb_per_capture": _round(self.kb_per_capture),
            "disk_kb_per_capture": _round(self.disk_kb_per_capture),
            "failed": self.failed,
            "note": self.note,
            "errors": self.errors,
            "served": self.served,
            "results_with_hits": self.with_hits,
        }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--profile", choices=sorted(PROFILES), default="default", help="site shape")
    p.add_argument("--pages", type=int, default=1000, help="pages on the site (default 1000)")
    p.add_argument("--hosts", type=int, help="loopback addresses 127.0.0.1.. (1-254; 1, dense: 10)")
    p.add_argument("--latency-ms", type=float, default=0, help="added latency per request")
    p.add_argument("--only", choices=TOOLS, help="run one tool only")
    p.add_argument("--keep", action="store_true", help="keep the tools' state in bench/.work")
    p.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    p.add_argument("--seed", type=int, default=20240501, help="site generator seed")
    p.add_argument("--mutate", type=float, default=0.10, help="fraction changed before cycle 3")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per tool run")
    p.add_argument("--watcher-concurrency", type=int, help="settings.concurrency (16, dense: 32)")
    p.add_argument(
        "--watcher-per-host", type=int, help="settings.per_host (the concurrency, dense: 4)"
    )
    p.add_argument(
        "--urlwatch-method",
        default="re",
        choices=("re", "pyhtml2text", "bs4"),
        help="html2text method (urlwatch's default is re)",
    )
    args = p.parse_args(argv)
    dense = args.profile == "dense"
    if args.hosts is None:
        args.hosts = 10 if dense else 1
    if args.watcher_concurrency is None:
        args.watcher_concurrency = 32 if dense else 16
    if args.watcher_per_host is None:
        args.watcher_per_host = 4 if dense else args.watcher_concurrency
    if not 1 <= args.hosts <= 254:
        p.error("--hosts must be within 1..254")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- running


def expected_status(cycle: int, name: str, mutated: set[str]) -> str:
    if cycle == 1:
        return "new"
    return "changed" if cycle == 3 and name in mutated else "unchanged"


def count_wrong(
    statuses: dict[str, str], pages: list[PageInfo], cycle: int, mutated: set[str]
) -> int:
    return sum(statuses.get(p.name) != expected_status(cycle, p.name, mutated) for p in pages)


def run_urlwatch(
    binary: Path, work: Path, cycle: int, pages: list[PageInfo], mutated: set[str], timeout: float
) -> Run:
    out, err = work / f"cycle{cycle}.out", work / f"cycle{cycle}.err"
    env = {**os.environ, "XDG_CONFIG_HOME": str(work / "xdg"), "XDG_CACHE_HOME": str(work / "xdg")}
    m = run_measured(
        urlwatch_env.command(binary, work),
        stdout=out,
        stderr=err,
        cwd=work,
        env=env,
        timeout=timeout,
    )
    statuses = urlwatch_env.parse_report(out, (p.name for p in pages))
    files = urlwatch_env.cache_files(work)
    sizes = [tree_size(f) for f in files]
    cache = work / "cache.db"
    captures = urlwatch_env.cache_rows(cache) if cache.exists() else None
    failed = m.returncode != 0 or m.timed_out
    return Run(
        tool="urlwatch",
        cycle=cycle,
        m=m,
        statuses=dict(Counter(statuses.values())),
        wrong=count_wrong(statuses, pages, cycle, mutated),
        captures=captures,
        stored_bytes=sum(a for a, _ in sizes),
        stored_disk_bytes=sum(d for _, d in sizes),
        failed=failed,
        note=tail(err) if failed else "",
    )


def run_watcher(
    work: Path, cycle: int, pages: list[PageInfo], mutated: set[str], timeout: float
) -> Run:
    out, err = work / f"cycle{cycle}.out", work / f"cycle{cycle}.err"
    m = run_measured(
        watcher_env.check_command(work), stdout=out, stderr=err, cwd=BENCH.parent, timeout=timeout
    )
    parsed = watcher_env.parse_check_output(out)
    snapshots = work / "snapshots"
    apparent, disk = tree_size(snapshots) if snapshots.exists() else (0, 0)
    failed = m.returncode not in (0, 1) or m.timed_out or not parsed.statuses
    note = ""
    if failed:
        note = tail(err) or tail(out) or f"exit code {m.returncode}, no output"
    return Run(
        tool="watcher",
        cycle=cycle,
        m=m,
        statuses=dict(Counter(parsed.statuses.values())),
        wrong=count_wrong(parsed.statuses, pages, cycle, mutated),
        captures=watcher_env.count_captures(snapshots),
        stored_bytes=apparent,
        stored_disk_bytes=disk,
        failed=failed,
        note=note,
        errors=dict(parsed.errors.most_common(5)),
        with_hits=parsed.pages_with_hits,
    )


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def prepare_tools(
    tools: list[str], pages: list[PageInfo], args: argparse.Namespace
) -> dict[str, Path]:
    """Fresh state dir and config for each tool; returns tool → work dir."""
    dirs: dict[str, Path] = {}
    if "watcher" in tools:
        work = dirs["watcher"] = fresh_dir(WORK / "watcher")
        (work / "notifiers").mkdir()
        watcher_env.precompile()
        keywords = {"dense": list(DENSE_KEYWORDS)} if args.profile == "dense" else None
        watcher_env.write_targets(
            pages, work / "targets.yaml", args.watcher_concurrency, args.watcher_per_host, keywords
        )
    if "urlwatch" in tools:
        work = dirs["urlwatch"] = fresh_dir(WORK / "urlwatch")
        urlwatch_env.write_jobs(pages, work / "jobs.yaml", args.urlwatch_method)
        urlwatch_env.write_config(work / "urlwatch.yaml")
    return dirs


def run_cycles(
    site: SiteServer, tools: list[str], dirs: dict[str, Path], args: argparse.Namespace
) -> tuple[list[Run], set[str]]:
    binary = urlwatch_env.ensure_venv(WORK / "urlwatch-venv") if "urlwatch" in tools else None
    runs: list[Run] = []
    mutated: set[str] = set()
    for cycle in CYCLES:
        if cycle == 3:
            mutated = set(site.mutate(args.mutate))
            log(f"mutated {len(mutated)} pages")
        for tool in tools:
            log(f"cycle {cycle} ({CYCLES[cycle]}): {tool} ...")
            site.stats()  # reset the server's counters
            if tool == "urlwatch":
                assert binary is not None
                run = run_urlwatch(binary, dirs[tool], cycle, site.pages, mutated, args.timeout)
            else:
                run = run_watcher(dirs[tool], cycle, site.pages, mutated, args.timeout)
            run.served = site.stats()
            log(
                f"  {run.m.wall_s:.2f} s wall, {run.m.cpu_s:.2f} s CPU, {_statuses(run.statuses)}"
                + ("  FAILED" if run.failed else "")
            )
            runs.append(run)
    return runs, mutated


# --------------------------------------------------------------------------- reporting


def _statuses(statuses: dict[str, int]) -> str:
    order = ("new", "changed", "unchanged", "error")
    parts = [f"{k} {statuses[k]}" for k in order if statuses.get(k)]
    parts += [f"{k} {v}" for k, v in statuses.items() if k not in order]
    return ", ".join(parts) or "none"


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or not b else f"{a / b:.2f}x"


def _served(served: dict[str, int]) -> str:
    codes = " ".join(f"{k}x{v}" for k, v in sorted(served.items()) if k != "bytes")
    return f"{codes} ({served.get('bytes', 0) / 1024**2:.1f} MB)"


def site_summary(pages: list[PageInfo], args: argparse.Namespace) -> dict[str, object]:
    sizes = [p.size for p in pages]
    mentions = [p.mentions for p in pages]
    return {
        "profile": args.profile,
        "pages": len(pages),
        "hosts": args.hosts,
        "latency_ms": args.latency_ms,
        "size_median_kb": round(statistics.median(sizes) / 1024, 1),
        "size_mean_kb": round(statistics.mean(sizes) / 1024, 1),
        "size_min_kb": round(min(sizes) / 1024, 1),
        "size_max_kb": round(max(sizes) / 1024, 1),
        "total_mb": round(sum(sizes) / 1024**2, 1),
        "encodings": dict(sorted(Counter(p.kind for p in pages).items())),
        "mentions_mean": round(statistics.mean(mentions), 1),  # 船舶, 国防科工局, 工业互联网
        "mentions_median": statistics.median(mentions),
        "validators": PROFILES[args.profile].validators,
    }


def _rss(m: Measurement) -> float:
    """Peak memory of the whole process tree (workers included): summed PSS, so
    libraries shared by the processes count once; never less than the largest
    single process's RSS."""
    return max(m.tree_pss_mb, m.peak_rss_mb)


def cycle_table(cycle: int, runs: list[Run]) -> str:
    header = (
        f"{'tool':<18}{'wall s':>9}{'CPU s':>9}{'RSS MB':>9}{'KB/cap':>9}{'disk KB/cap':>13}"
        f"  {'correct':<9}{'statuses':<30}served"
    )
    lines = [
        f"Cycle {cycle}: {CYCLES[cycle]}  (RSS: peak of all the tool's processes"
        " together, shared pages counted once; tree RSS sum in the JSON)",
        header,
        "-" * len(header),
    ]
    by_tool = {r.tool: r for r in runs}
    for r in runs:
        correct = "FAILED" if r.failed else ("yes" if r.wrong == 0 else f"no ({r.wrong})")
        lines.append(
            f"{r.tool:<18}{r.m.wall_s:>9.2f}{r.m.cpu_s:>9.2f}{_rss(r.m):>9.1f}"
            f"{_fmt(r.kb_per_capture, '.1f'):>9}{_fmt(r.disk_kb_per_capture, '.1f'):>13}  "
            f"{correct:<9}{_statuses(r.statuses):<30}{_served(r.served)}"
        )
    if len(by_tool) == 2:
        w, u = by_tool["watcher"], by_tool["urlwatch"]
        lines.append(
            f"{'watcher/urlwatch':<18}{_ratio(w.m.wall_s, u.m.wall_s):>9}"
            f"{_ratio(w.m.cpu_s, u.m.cpu_s):>9}"
            f"{_ratio(_rss(w.m), _rss(u.m)):>9}"
            f"{_ratio(w.kb_per_capture, u.kb_per_capture):>9}"
            f"{_ratio(w.disk_kb_per_capture, u.disk_kb_per_capture):>13}"
        )
    for r in runs:
        if r.failed:
            why = f"exit {r.m.returncode}" + (", timed out" if r.m.timed_out else "")
            lines.append(f"  {r.tool} FAILED ({why}):")
            lines.extend("    " + line for line in r.note.splitlines())
        if not r.m.rss_exact and not r.failed:
            lines.append(
                f"  {r.tool}: peak RSS is at most the launcher's {r.m.rss_floor_mb:.0f} MB"
            )
        if r.errors:
            lines.append(f"  {r.tool} errors: {r.errors}")
        if r.with_hits is not None and not r.failed:
            lines.append(f"  {r.tool}: {r.with_hits} results with keyword hits")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    value: str
    met: bool | None  # None: could not be judged in this run


def judge(runs: list[Run], args: argparse.Namespace) -> list[Target]:
    """The project's performance targets, each met / not met / n/a."""
    get = {(r.tool, r.cycle): r for r in runs}

    def pair(cycle: int) -> tuple[Run, Run] | None:
        w, u = get.get(("watcher", cycle)), get.get(("urlwatch", cycle))
        if w is None or u is None or w.failed or u.failed:
            return None
        return w, u

    def ratio_target(
        name: str, cycle: int, attr: str, limit: float, strict: bool = False
    ) -> Target:
        p = pair(cycle)
        if p is None:
            return Target(name, "n/a", None)
        r = getattr(p[0].m, attr) / getattr(p[1].m, attr)
        return Target(name, f"{r:.2f}x", r < limit if strict else r <= limit)

    if args.profile == "dense":
        return _dense_targets(runs, args, ratio_target)
    targets = [
        ratio_target("unchanged-cycle CPU <= 0.5x urlwatch", 2, "cpu_s", 0.5),
        ratio_target("change-cycle wall < urlwatch", 3, "wall_s", 1.0, strict=True),
        ratio_target("first-cycle wall <= 1.5x urlwatch", 1, "wall_s", 1.5),
    ]
    w_runs = [r for r in runs if r.tool == "watcher" and not r.failed]
    if w_runs:
        rss = max(_rss(r.m) for r in w_runs)
        targets.append(Target("watcher peak RSS <= 150 MB", f"{rss:.1f} MB", rss <= 150))
    else:
        targets.append(Target("watcher peak RSS <= 150 MB", "n/a", None))
    last = get.get(("watcher", 3))
    kb = last.kb_per_capture if last and not last.failed else None
    targets.append(
        Target(
            "watcher <= 15 KB stored per capture",
            "n/a" if kb is None else f"{kb:.1f} KB",
            None if kb is None else kb <= 15,
        )
    )
    if args.latency_ms > 0:
        # The checking cycles, where the network sets the pace; the first cycle
        # (every page new) is bound by parsing on the machine's cores instead, and
        # has its own target above. Its ratio is printed for information.
        name = "latency: watcher >= 3x faster (wall; unchanged and changed cycles)"
        pairs = [pair(c) for c in CYCLES]
        if all(pairs):
            speed = [u.m.wall_s / w.m.wall_s for w, u in pairs]  # type: ignore[misc]
            value = f"{speed[1]:.2f}x / {speed[2]:.2f}x (first cycle: {speed[0]:.2f}x)"
            targets.append(Target(name, value, min(speed[1:]) >= 3))
        else:
            targets.append(Target(name, "n/a", None))
    return targets


def _peak_target(runs: list[Run]) -> Target:
    w_runs = [r for r in runs if r.tool == "watcher" and not r.failed]
    if not w_runs:
        return Target("watcher peak RSS <= 150 MB", "n/a", None)
    rss = max(_rss(r.m) for r in w_runs)
    return Target("watcher peak RSS <= 150 MB", f"{rss:.1f} MB", rss <= 150)


def _dense_targets(
    runs: list[Run], args: argparse.Namespace, ratio_target: Callable[..., Target]
) -> list[Target]:
    """The dense profile's targets; with latency, the floor N × latency / in flight."""
    targets = [
        ratio_target("first-cycle wall <= 1.5x urlwatch", 1, "wall_s", 1.5),
        ratio_target("unchanged-cycle CPU <= 0.4x urlwatch", 2, "cpu_s", 0.4),
        ratio_target("change-cycle wall <= 0.5x urlwatch", 3, "wall_s", 0.5),
        _peak_target(runs),
    ]
    if args.latency_ms > 0:
        in_flight = min(args.watcher_concurrency, args.hosts * args.watcher_per_host)
        floor = args.pages * args.latency_ms / 1000 / in_flight
        name = f"latency: checking cycles' wall <= 1.2x {floor:.2f} s (N x latency / {in_flight})"
        walls = [
            r.m.wall_s for r in runs if r.tool == "watcher" and r.cycle in (2, 3) and not r.failed
        ]
        if len(walls) == 2:
            value = " / ".join(f"{w / floor:.2f}x" for w in walls)
            targets.append(Target(name, value, max(walls) <= 1.2 * floor))
        else:
            targets.append(Target(name, "n/a", None))
    return targets


def targets_table(targets: list[Target]) -> str:
    mark = {True: "met", False: "NOT MET", None: "n/a"}
    lines = ["Targets"]
    lines += [f"  {t.name:<50}{t.value:>28}  {mark[t.met]}" for t in targets]
    return "\n".join(lines)


def decode_table(decode: dict[str, dict[str, dict[str, int]]]) -> str:
    lines = ["Decoding of the stored text (ok: 通知 and 镕堃喆 intact; lossy: GBK-only chars lost)"]
    for tool, by_kind in decode.items():
        for kind, counts in sorted(by_kind.items()):
            lines.append(f"  {tool:<18}{kind:<12}{_statuses(counts)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = [args.only] if args.only else list(TOOLS)
    WORK.mkdir(exist_ok=True)
    log(
        f"generating {args.pages} {args.profile} pages on {args.hosts} host(s),"
        f" latency {args.latency_ms:g} ms ..."
    )
    profile = PROFILES[args.profile]
    with SiteServer(args.pages, args.hosts, args.seed, args.latency_ms, profile=profile) as site:
        site_info = site_summary(site.pages, args)
        log(f"site: {site_info}")
        dirs = prepare_tools(tools, site.pages, args)
        runs, mutated = run_cycles(site, tools, dirs, args)
        decode: dict[str, dict[str, dict[str, int]]] = {}
        if "urlwatch" in dirs and urlwatch_env.cache_rows(dirs["urlwatch"] / "cache.db"):
            decode["urlwatch"] = {
                k: dict(v)
                for k, v in urlwatch_env.decode_check(
                    dirs["urlwatch"] / "cache.db", site.pages
                ).items()
            }
        if "watcher" in dirs and not all(r.failed for r in runs if r.tool == "watcher"):
            log("watcher decode sample (watcher test NAME) ...")
            decode["watcher (sample)"] = {
                k: dict(v)
                for k, v in watcher_env.decode_sample(dirs["watcher"], site.pages).items()
            }
    targets = judge(runs, args)
    tables = [f"Site: {site_info}"]
    tables += [cycle_table(c, [r for r in runs if r.cycle == c]) for c in CYCLES]
    tables += [decode_table(decode), targets_table(targets)]
    text = "\n\n".join(tables)
    if args.json:
        log(text)
        figures = {
            "site": site_info,
            "mutated": len(mutated),
            "runs": [r.to_json() for r in runs],
            "decode": decode,
            "targets": [asdict(t) for t in targets],
        }
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    else:
        print(text)
    if not args.keep:
        for path in dirs.values():
            shutil.rmtree(path, ignore_errors=True)
    return 1 if any(r.failed for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
