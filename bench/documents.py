"""One document across sites: how well reposts are linked by their text, and how
long identifying and linking 10,000 documents takes.

**The labelled pairs.** Six real article pages (tests/fixtures/pages: gov.cn,
cmse.gov.cn twice, fgw.zj.gov.cn, kepu.gov.cn, shanxi.gov.cn; their texts of record,
the ``.expected.txt`` files) and, for each, six reposts made by the recipes below,
as provincial and city sites repost: the text reflowed on another template; one
sentence edited; a 转发 note added on top; the tail (signature, attachments) left
off; the text inside another site's frame (breadcrumb, 来源/责任编辑 line, footer);
and the frame plus the edited sentence. Positive pairs (same document): each page
with each of its reposts (36) and two reposts of one page with each other (6).
Negative pairs (different documents): every two pages (15), every page with every
other page's framed repost (30: they share the frame's text), and each page's first
half with its second half (6: one source, one subject). 93 pairs in all, listed with
``--pairs``; the labels follow from the recipes, each checked by reading the pair.

Each pair is linked the way a check links it: a fresh SQLite store, the first text
recorded, then the second (``watcher.store.works.record``, no 文号: text and title
only); the pair is "linked" when both land on one document. The same pairs are
then scored with exact Jaccard similarity of the 5-character shingles and with
datasketch's MinHash (128 permutations; when it is installed) at several thresholds,
so the estimator and its threshold are chosen by these figures.

**10,000 documents.** Generated notices of 20 to 40 sentences (a third with a
文号), sentences drawn from the real pages' characters with shared stock phrases,
a fifth reposted with an edited sentence on another target: the time to identify
them (``identity.facts_of``) and to link them in a SQLite file (one transaction
each, as a capture is stored), and how many reposts were linked and how many
documents were wrongly joined.

    .venv/bin/python bench/documents.py [--pairs] [--documents 10000] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.analysis import identity  # noqa: E402
from watcher.store import schema, sqlite, works  # noqa: E402

PAGES = ROOT / "tests" / "fixtures" / "pages"
REAL = [
    "gov.cn/gongbao_2007-23_content_711039.html",
    "cmse.gov.cn/article_t20120624_43188.html",
    "cmse.gov.cn/article_t20210106_47506.html",
    "fgw.zj.gov.cn/article_art_1621004_30332664.html",
    "kepu.gov.cn/article_content_1755244.html",
    "shanxi.gov.cn/article_t20190918_693227.html",
]
FRAME_HEAD = "首页 > 政务公开 > 通知公告\n来源：本网 发布时间：2024-01-08 责任编辑：王明\n"
FRAME_FOOT = (
    "\n【打印本页】【关闭窗口】\n主办单位：某某市人民政府办公室 网站标识码：3300000001 "
    "ICP备案号：浙ICP备05000001号"
)
T0 = datetime(2024, 1, 8, tzinfo=UTC)


@dataclass(frozen=True)
class Text:
    name: str
    title: str
    body: str


@dataclass(frozen=True)
class Pair:
    a: Text
    b: Text
    same: bool
    how: str


def real_texts() -> dict[str, Text]:
    found = {}
    for path in REAL:
        body = (PAGES / f"{path}.expected.txt").read_text("utf-8")
        title = next(line for line in body.splitlines() if line.strip())
        found[path.split("/")[0] + path[-12:-5]] = Text(path, title.strip(), body)
    return found


def _sentences(body: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。！？])", body) if s.strip()]


def reflowed(t: Text) -> Text:
    lines = [line.strip() for line in t.body.splitlines() if line.strip()]
    return Text(t.name + "+reflowed", t.title, "\n\n".join(lines).replace("，", "， "))


def sentence_edited(t: Text) -> Text:
    sentences = _sentences(t.body)
    at = min(2, len(sentences) - 1)
    s = sentences[at]
    middle = len(s) // 2
    sentences[at] = s[: middle - 4] + "有关部门" + s[middle + 4 :]
    return Text(t.name + "+edited", t.title, "".join(sentences))


def note_added(t: Text) -> Text:
    note = "转发说明：现将此文转发给你们，请结合实际认真学习贯彻。\n"
    return Text(t.name + "+note", t.title, note + t.body)


def tail_dropped(t: Text) -> Text:
    lines = t.body.splitlines()
    keep = max(3, int(len(lines) * 0.8))
    return Text(t.name + "+tail-dropped", t.title, "\n".join(lines[:keep]))


def framed(t: Text) -> Text:
    return Text(t.name + "+framed", t.title + "_某某市人民政府", FRAME_HEAD + t.body + FRAME_FOOT)


def framed_edited(t: Text) -> Text:
    return framed(sentence_edited(t))


REPOSTS: tuple[Callable[[Text], Text], ...] = (
    reflowed,
    sentence_edited,
    note_added,
    tail_dropped,
    framed,
    framed_edited,
)


def halves(t: Text) -> tuple[Text, Text]:
    lines = t.body.splitlines()
    mid = len(lines) // 2
    first = "\n".join(lines[:mid])
    second = "\n".join(lines[mid:])
    return Text(t.name + "[1st half]", t.title, first), Text(
        t.name + "[2nd half]", lines[mid].strip()[:30] if mid < len(lines) else "", second
    )


def labelled_pairs() -> list[Pair]:
    pages = list(real_texts().values())
    pairs = []
    for page in pages:
        for repost in REPOSTS:
            pairs.append(Pair(page, repost(page), True, f"original + {repost.__name__}"))
        pairs.append(Pair(tail_dropped(page), framed_edited(page), True, "repost + repost"))
    for a, b in itertools.combinations(pages, 2):
        pairs.append(Pair(a, b, False, "two pages"))
    for a, b in itertools.permutations(pages, 2):
        pairs.append(Pair(a, framed(b), False, "page + another's framed repost"))
    for page in pages:
        first, second = halves(page)
        pairs.append(Pair(first, second, False, "two halves of one page"))
    return pairs


# -- linking as the store does it ------------------------------------------------------


def fresh_engine(path: Path | None = None) -> sa.Engine:
    """In memory, or a file set up as the store sets up its index (WAL, synchronous=NORMAL)."""
    if path is None:
        engine = sa.create_engine("sqlite://")
    else:
        engine = sqlite.engine(path, readonly=False)
        with engine.begin() as conn:
            sqlite.use_wal(conn)
    schema.metadata.create_all(engine)
    return engine


def add_targets(conn: sa.Connection, count: int) -> None:
    conn.execute(
        sa.insert(schema.targets),
        [
            {"id": i, "name": f"t{i}", "url": f"http://t{i}/", "created_at": T0}
            for i in range(count)
        ],
    )


def facts(t: Text, number: str | None = None) -> works.NoticeFacts | None:
    meta = {"document_number": number, "issuer": "工业和信息化部"} if number else None
    return identity.facts_of(t.body, meta, t.title)


def linked_by_store(pair: Pair) -> bool:
    engine = fresh_engine()
    with engine.begin() as conn:
        add_targets(conn, 2)
        ids = []
        for n, text in enumerate((pair.a, pair.b)):
            found = facts(text)
            if found is None:
                return False
            ids.append(
                works.record(
                    conn,
                    capture_id=f"c{n}",
                    target_id=n,
                    at=T0 + timedelta(hours=n),
                    facts=found,
                ).work_id
            )
    engine.dispose()
    return ids[0] == ids[1]


def shingles(text: str) -> set[str]:
    flat = identity.normalised(text)
    return {flat[i : i + identity.SHINGLE] for i in range(len(flat) - identity.SHINGLE + 1)}


def exact(a: Text, b: Text) -> float:
    x, y = shingles(a.body), shingles(b.body)
    return len(x & y) / len(x | y) if x | y else 0.0


def bottom_k(a: Text, b: Text) -> float:
    return identity.similarity(identity.sketch(a.body), identity.sketch(b.body))


def datasketch_scorer() -> Callable[[Text, Text], float] | None:
    try:
        from datasketch import MinHash
    except ImportError:
        return None

    def minhash(t: Text) -> MinHash:
        m = MinHash(num_perm=128)
        m.update_batch([s.encode("utf-8") for s in shingles(t.body)])
        return m

    return lambda a, b: minhash(a).jaccard(minhash(b))


def scores(pairs: list[Pair], score: Callable[[Text, Text], float]) -> list[float]:
    return [score(p.a, p.b) for p in pairs]


def precision_recall(pairs: list[Pair], decided: list[bool]) -> tuple[float, float, int, int]:
    tp = sum(1 for p, d in zip(pairs, decided, strict=True) if p.same and d)
    fp = sum(1 for p, d in zip(pairs, decided, strict=True) if not p.same and d)
    fn = sum(1 for p, d in zip(pairs, decided, strict=True) if p.same and not d)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, fp, fn


# -- 10,000 documents ------------------------------------------------------------------


def corpus(count: int, seed: int = 18) -> Iterator[tuple[int, Text, str | None, int | None]]:
    """(target, text, 文号, the index of the document it reposts or None)."""
    rng = random.Random(seed)
    chars = [c for t in real_texts().values() for c in t.body if "\u4e00" <= c <= "\u9fff"]
    stock = [s for t in real_texts().values() for s in _sentences(t.body) if 10 < len(s) < 60]
    made: list[tuple[Text, str | None]] = []
    for n in range(count):
        if made and rng.random() < 0.2:
            origin = rng.randrange(len(made))
            text, number = made[origin]
            edited = sentence_edited(text)
            yield n, Text(f"d{n}", text.title, edited.body), number, origin
            made.append((edited, number))
            continue
        sentences = []
        for _ in range(rng.randint(20, 40)):
            if rng.random() < 0.25:
                sentences.append(rng.choice(stock))
            else:
                sentences.append("".join(rng.choices(chars, k=rng.randint(12, 40))) + "。")
        title = "关于" + "".join(rng.choices(chars, k=12)) + "的通知"
        number = f"工信部{rng.choice('装规信联')}〔{rng.randint(2015, 2025)}〕{n}号"
        number = number if rng.random() < 1 / 3 else None
        text = Text(f"d{n}", title, title + "\n" + "".join(sentences))
        made.append((text, number))
        yield n, text, number, None


def link_many(count: int) -> dict[str, float]:
    docs = list(corpus(count))
    started, cpu = time.perf_counter(), time.process_time()
    found = [facts(text, number) for _, text, number, _ in docs]
    identify, identify_cpu = time.perf_counter() - started, time.process_time() - cpu
    with tempfile.TemporaryDirectory() as folder:
        engine = fresh_engine(Path(folder) / "index.sqlite")
        with engine.begin() as conn:
            add_targets(conn, count)
        work_of: list[int] = []
        started, cpu = time.perf_counter(), time.process_time()
        for (n, _text, _number, _origin), fact in zip(docs, found, strict=True):
            assert fact is not None
            with engine.begin() as conn:
                linked = works.record(
                    conn, capture_id=f"c{n}", target_id=n, at=T0 + timedelta(minutes=n), facts=fact
                )
            work_of.append(linked.work_id)
        link, link_cpu = time.perf_counter() - started, time.process_time() - cpu
        engine.dispose()
    reposts = [(n, origin) for n, _, _, origin in docs if origin is not None]
    joined = sum(1 for n, origin in reposts if work_of[n] == work_of[origin])
    expected_works = count - len(reposts)
    return {
        "documents": count,
        "identify_s": round(identify, 2),
        "identify_cpu_s": round(identify_cpu, 2),
        "link_s": round(link, 2),
        "link_cpu_s": round(link_cpu, 2),
        "per_document_ms": round((identify + link) / count * 1000, 2),
        "reposts": len(reposts),
        "reposts_linked": joined,
        "documents_made": len(set(work_of)),
        "documents_expected": expected_works,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", action="store_true", help="list the labelled pairs and scores")
    p.add_argument("--documents", type=int, default=10_000)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    pairs = labelled_pairs()
    figures: dict[str, object] = {
        "pairs": len(pairs),
        "positive": sum(p.same for p in pairs),
        "negative": sum(not p.same for p in pairs),
    }
    decided = [linked_by_store(p) for p in pairs]
    precision, recall, fp, fn = precision_recall(pairs, decided)
    figures["store"] = {"precision": precision, "recall": recall, "fp": fp, "fn": fn}
    scorers = {"exact Jaccard": exact, "bottom-k 64 (watcher)": bottom_k}
    minhash = datasketch_scorer()
    if minhash is not None:
        scorers["datasketch MinHash 128"] = minhash
    grid = {}
    timing = {}
    for name, scorer in scorers.items():
        started = time.perf_counter()
        values = scores(pairs, scorer)
        timing[name] = round((time.perf_counter() - started) / len(pairs) / 2 * 1000, 3)
        grid[name] = {
            str(threshold): precision_recall(pairs, [v >= threshold for v in values])[:2]
            for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
        }
    figures["thresholds"] = grid
    figures["ms_per_text"] = timing
    if args.pairs:
        for pair, said in zip(pairs, decided, strict=True):
            mark = "ok " if said == pair.same else "BAD"
            print(
                f"{mark} {'same' if pair.same else 'diff'} {bottom_k(pair.a, pair.b):.2f} "
                f"{pair.how}: {pair.a.name} | {pair.b.name}",
                file=sys.stderr,
            )
    figures["link_10k"] = link_many(args.documents)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=1))
        return
    print(f"labelled pairs: {len(pairs)} ({figures['positive']} same, {figures['negative']} not)")
    print(
        f"linked by the store (text and title, no 文号): precision {precision:.3f}, "
        f"recall {recall:.3f} ({fp} false links, {fn} missed)"
    )
    print("precision / recall by threshold on estimated Jaccard similarity:")
    for name, by in grid.items():
        cells = "  ".join(f"{t}: {pr[0]:.2f}/{pr[1]:.2f}" for t, pr in by.items())
        print(f"  {name:<24} {cells}   ({timing[name]} ms per text)")
    if minhash is None:
        print("  datasketch not installed: its MinHash was not compared")
    big = figures["link_10k"]
    assert isinstance(big, dict)
    print(
        f"{big['documents']:,} documents: identify {big['identify_s']} s "
        f"(CPU {big['identify_cpu_s']} s), link {big['link_s']} s (CPU {big['link_cpu_s']} s), "
        f"{big['per_document_ms']} ms each; reposts linked {big['reposts_linked']}/"
        f"{big['reposts']}; documents {big['documents_made']} (expected "
        f"{big['documents_expected']})"
    )


if __name__ == "__main__":
    main()
