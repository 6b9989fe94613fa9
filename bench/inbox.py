"""Server time of the inbox, the dashboard and search on bench/web.py's large store
(1,000 targets, 100,000 captures) with 10 users and their reading and triage.

The store is bench/web.py's (built in ``bench/.work/inbox/``, kept with ``--keep``);
its inbox is what the migration makes of an older store (``inboxlog.backfill``: one
item per capture with a new text), then a share of the changes is grouped as one
edit on many pages would be (``--grouped``), and 10 users get their state: each
has marked all read at some point of the year (one never did), read 500 items and
marked 50 older ones unread; 2,000 items carry a shared state, an assignee and a
note. Each page is asked for as each user in turn (2 warm-ups, ``--runs`` timed),
through the app in-process; median, p90 and CPU time per page against 200 ms.

    .venv/bin/python bench/inbox.py [--keep] [--runs 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import web

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "inbox"
USERS = [f"analyst{n:02d}" for n in range(10)]
INBOX_VERSION = 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--keep", action="store_true", help="keep the store, reuse it")
    p.add_argument("--runs", type=int, default=30, help="timed requests per page (30)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--grouped", type=float, default=0.1, help="changes that are one edit of many")
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def add_inbox(
    data: Path, grouped: float, seed: int = 15, index: str | None = None
) -> dict[str, Any]:
    """Events, groups, and the users' reading and triage, written with SQL as the
    store's own code would leave them (``index``: the team store's URL)."""
    import sqlalchemy as sa

    from watcher.store import dialects, inboxlog
    from watcher.store.schema import (
        inbox_actions,
        inbox_events,
        inbox_items,
        inbox_reads,
        inbox_visits,
    )

    rng = random.Random(seed)
    engine = dialects.engine(data, index, readonly=False)
    started = time.perf_counter()
    with engine.begin() as conn:
        if conn.execute(sa.select(sa.func.count()).select_from(inbox_items)).scalar():
            return {"reused": True}
        events = inboxlog.backfill(conn)
        changed = conn.execute(
            sa.select(inbox_items.c.id, inbox_items.c.last_at)
            .where(inbox_items.c.kind == "changed")
            .order_by(inbox_items.c.last_at)
        ).all()
        # one edit on many pages: runs of 5-40 changes close in time become one item
        picked = [r for r in changed if rng.random() < grouped]
        merged = 0
        gone: set[int] = set()  # merged into an earlier run's head (runs overlap)
        for start in range(0, len(picked), 20):
            run = [r for r in picked[start : start + rng.randint(5, 40)] if r.id not in gone]
            gone.update(r.id for r in run)
            if len(run) < 2:
                continue
            head, rest = run[0].id, [r.id for r in run[1:]]
            conn.execute(
                sa.update(inbox_events).where(inbox_events.c.item_id.in_(rest)).values(item_id=head)
            )
            conn.execute(sa.delete(inbox_items).where(inbox_items.c.id.in_(rest)))
            conn.execute(
                sa.update(inbox_items)
                .where(inbox_items.c.id == head)
                .values(count=len(run), last_at=max(r.last_at for r in run))
            )
            merged += len(rest)
        ids = list(conn.execute(sa.select(inbox_items.c.id)).scalars())
        last = conn.execute(sa.select(sa.func.max(inbox_items.c.last_at))).scalar()
        year = timedelta(days=365)
        for n, user in enumerate(USERS):
            read_before = None if n == 0 else last - year * rng.random()
            conn.execute(
                sa.insert(inbox_visits).values(
                    user=user, read_before=read_before, visit_at=last, last_visit_at=last
                )
            )
            marks = [
                {"user": user, "item_id": i, "read": True, "at": last} for i in rng.sample(ids, 500)
            ]
            marks += [
                {"user": user, "item_id": i, "read": False, "at": last}
                for i in rng.sample(sorted(set(ids) - {m["item_id"] for m in marks}), 50)
            ]
            conn.execute(sa.insert(inbox_reads), marks)
        triaged = rng.sample(ids, 2000)
        for i in triaged:
            state = rng.choice(("reviewed", "important", "noise"))
            who = rng.choice(USERS)
            conn.execute(
                sa.update(inbox_items)
                .where(inbox_items.c.id == i)
                .values(state=state, assignee=rng.choice(USERS))
            )
            conn.execute(
                sa.insert(inbox_actions),
                [
                    {"item_id": i, "user": who, "at": last, "action": "state", "value": state},
                    {"item_id": i, "user": who, "at": last, "action": "note", "value": "已核对"},
                ],
            )
        items = len(ids)
    engine.dispose()
    return {
        "events": events,
        "items": items,
        "grouped_into_others": merged,
        "users": len(USERS),
        "triaged": len(triaged),
        "build_s": round(time.perf_counter() - started, 1),
    }


class AsUser:
    """Who is asking, as the accounts part would say it: the ``x-user`` header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from watcher.web.identity import User

        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"x-user":
                    scope.setdefault("state", {})["user"] = User(value.decode(), "analyst")
        await self.app(scope, receive, send)


def pages(item: int) -> list[tuple[str, str]]:
    return [
        ("inbox (unread, since last visit)", "/inbox"),
        ("inbox all", "/inbox?view=all"),
        ("inbox all, page 20", "/inbox?view=all&page=20"),
        ("inbox tag", "/inbox?view=all&tag=sastind"),
        ("inbox target", "/inbox?view=all&target=site-0500"),
        ("inbox keyword group", "/inbox?view=all&group=shipbuilding"),
        ("inbox important", "/inbox?view=all&state=important"),
        ("inbox assigned to me", "/inbox?view=all&assignee=me"),
        ("inbox dates", "/inbox?view=all&since=2000-01-01&until=2099-01-01"),
        ("inbox item", f"/inbox/{item}"),
        ("dashboard", "/"),
        ("search 船舶", "/search?q=船舶"),
        ("search 国防科工局", "/search?q=国防科工局"),
    ]


async def measure(app: Any, runs: int, warmup: int, item: int) -> list[dict[str, Any]]:
    import httpx

    out = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for label, path in pages(item):
            times, cpu = [], []
            status, size = 0, 0
            for n in range(warmup + runs):
                user = USERS[n % len(USERS)]
                c0, t0 = time.process_time(), time.perf_counter()
                response = await client.get(path, headers={"x-user": user})
                elapsed = (time.perf_counter() - t0) * 1000
                if n >= warmup:
                    times.append(elapsed)
                    cpu.append((time.process_time() - c0) * 1000)
                status, size = response.status_code, len(response.content)
            median = statistics.median(times)
            out.append(
                {
                    "label": label,
                    "path": path,
                    "status": status,  # (a refused Host would be 400)
                    "kb": round(size / 1024, 1),
                    "median_ms": round(median, 1),
                    "p90_ms": round(sorted(times)[int(0.9 * len(times)) - 1], 1),
                    "cpu_ms": round(statistics.median(cpu), 1),
                    "met": status == 200 and median < 200,
                }
            )
            web.log(f"  {label}: median {median:.1f} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    web.WORK = WORK
    manifest, reused = web.prepare(web.parse_args(["--keep"] if args.keep else []))
    data = WORK / "snapshots"
    inbox_build = add_inbox(data, args.grouped)
    web.log(f"inbox: {inbox_build}")
    from watcher.store.index import Store
    from watcher.web.app import create_app

    with Store(data, readonly=True) as store, store.engine.connect() as conn:
        item = conn.exec_driver_sql("SELECT id FROM inbox_items WHERE count > 1 LIMIT 1").scalar()
    app = create_app(data, WORK / "targets.yaml")
    app.add_middleware(AsUser)
    try:
        timings = asyncio.run(measure(app, args.runs, args.warmup, item or 1))
        load = os.getloadavg()[0]
    finally:
        app.state.context.close()
        app.state.inbox_writer.close()
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    figures = {
        "store": manifest["build"],
        "reused": reused,
        "inbox": inbox_build,
        "pages": timings,
        "load_average": round(load, 2),
        "cpus": os.cpu_count(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        b = manifest["build"]
        print(f"store: {b['targets']:,} targets, {b['captures']:,} captures; inbox: {inbox_build}")
        print(f"\n{'page':36} {'median':>8} {'p90':>8} {'cpu':>8}  {'KB':>6}  met")
        for t in timings:
            print(
                f"{t['label']:36} {t['median_ms']:8.1f} {t['p90_ms']:8.1f} {t['cpu_ms']:8.1f}  "
                f"{t['kb']:6.1f}  {'yes' if t['met'] else 'NO'}"
            )
        print(f"\n{args.runs} requests per page, the 10 users in turn; load average {load:.1f}")
    return 0 if all(t["status"] == 200 for t in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
