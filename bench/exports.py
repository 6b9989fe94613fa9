"""What writing an export costs: rows shaped like the hits export (five columns of
the hit, then the ten citation columns, Chinese titles, two datetimes) written as
CSV and as XLSX by ``watcher.export.tables``; wall seconds (median of 3), rows a
second and the file's size. Prints figures; asserts nothing.

    .venv/bin/python bench/exports.py              # 10,000 and 100,000 rows
    .venv/bin/python bench/exports.py --rows 5000
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from watcher.export.records import Citing
from watcher.export.tables import Table, to_csv, to_xlsx

BEIJING = ZoneInfo("Asia/Shanghai")


def table(rows: int) -> Table:
    citing = Citing("https://watcher.example.org", BEIJING)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    body = []
    for i in range(rows):
        at = start + timedelta(minutes=i)
        body.append(
            [
                f"miit-{i % 500}",
                "shipbuilding",
                "船舶",
                "added",
                i % 7 + 1,
                f"工业和信息化部关于推动船舶工业高质量发展的通知（第{i}号）",
                f"工信部联规〔2026〕{i}号",
                "工业和信息化部",
                "2026-03-08",
                f"https://www.miit.gov.cn/zwgk/zcwj/wjfb/tz/art/2026/art_{i}.html",
                at,
                at.astimezone(BEIJING),
                f"{i:064x}",
                f"01JE{i:022d}",
                citing.permalink(f"01JE{i:022d}"),
            ]
        )
    return Table("hits", ["Target", "Group", "Term", "Where", "Count", *citing.columns()], body)


def median_seconds(write, data: Table) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(3):
        began = time.perf_counter()
        size = len(write(data))
        times.append(time.perf_counter() - began)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")
    counts = parser.parse_args().rows or [10_000, 100_000]
    print(f"{'rows':>8} {'format':>6} {'seconds':>8} {'rows/s':>9} {'MB':>7}")
    for rows in counts:
        data = table(rows)
        for name, write in (("csv", to_csv), ("xlsx", to_xlsx)):
            seconds, size = median_seconds(write, data)
            print(f"{rows:>8} {name:>6} {seconds:>8.2f} {rows / seconds:>9.0f} {size / 1e6:>7.1f}")


if __name__ == "__main__":
    main()
