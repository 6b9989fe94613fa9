"""Server time of watcher's web UI on a large store: 1,000 targets, 100,000 captures.

Builds a store (or reuses it with ``--keep``) in ``bench/.work/web/`` (``web-pg/`` with
``--store``), then asks the
app in-process (``httpx.ASGITransport``, no sockets) for the dashboard, a target
page, the diff of two 1 MB captures, searches, the hits page, the targets API and
the Atom feed, and the inbox: 2 warm-ups, then ``--runs`` timed requests each, asked
as ``--users`` (10) analysts in turn. Prints median and
p90 wall time per page against the goal (200 ms each, 500 ms for a diff), the
median CPU time of the process per request (steadier when other processes load
the machine; the load average is printed) and the first request's time (``cold``:
store and config opened, templates compiled). The app is set up as ``watcher serve``
sets it up: what its start-up made is frozen out of the collector's full collections
(``watcher/cli/startup.py``; unfrozen, each walked the app's modules again, about 120 ms
on these machines). The kept store is rebuilt when the parameters or the migrations
change.

The store, per target: one generated notice page (``govsite.build_page_html``,
5-40 KB of HTML, the site's mix of GBK and UTF-8, its text extracted with
``watcher.analysis.analyse.document_of``), then 100 captures over a year. The first is
``new``; of the later ones ``--changed`` (60%) rewrite one or two sentences of the
previous text (so each such capture has its own text), ``--hits`` (5%) of them add a
sentence naming 船舶/造船/国防科工局 (hits computed with ``watcher.keywords.find_hits``
on the diff), and the rest are ``unchanged`` (new bytes, same text: they share the
previous text blob). Every capture has its own raw blob (the page with a changed
comment). ``--checks-between`` checks without a capture (304s, 2% errors) lie
between captures. Each distinct text is in the search index as
``watcher.store.sqlite.index_text`` (or ``postgres.index_text``) puts it there (tokens from
``watcher.store.search``). Two targets end on 1 MB texts differing by ~1%:
``big-page`` (sentences rewritten at ~100 places) and ``big-page-scattered`` (1% of
the characters replaced one by one, the worst case of ``bench/diff_speed.py``).

The users have their reading and triage as bench/inbox.py gives them (``add_inbox``:
the inbox the migration makes of the captures, a tenth of the changes grouped as one
edit on many pages, each user's "mark all read", 500 items read and 50 unread
again, 2,000 items with a shared state, assignee and note), so the inbox, dashboard
and search pages count each user's unread items as they would in use. The item
page of a noise item also runs the rule suggestions (``watcher.check.suggest``).

With ``--store postgresql://…`` the index is that database (the team store; it must
be empty, or hold this script's store from an earlier ``--keep`` run) and the blobs
stay in ``bench/.work/web/``; the same rows go in through the same tables, the
search tokens as ``watcher.store.postgres.index_text`` keeps them.

    .venv/bin/python bench/web.py [--keep] [--runs 15] [--only search] [--json]
    .venv/bin/python bench/web.py --store postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from govsite import _KEYWORD_CLAUSES, ENCODING_CLASSES, ENCODING_WEIGHTS, _sentence, build_page_html
from govsite import Page as SitePage
from measure import tree_size

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from watcher.analysis.analyse import Page, document_of  # noqa: E402
from watcher.core.ids import new_id  # noqa: E402
from watcher.diff.ops import diff_texts  # noqa: E402
from watcher.keywords import KeywordMatcher, find_hits  # noqa: E402
from watcher.store.blobs import LocalBlobStore, sha256  # noqa: E402
from watcher.store.index import _hit_rows  # noqa: E402  (the rows the store writes)
from watcher.store.search import index_terms  # noqa: E402

WORK = BENCH / ".work" / "web"
KEYWORDS = {"shipbuilding": ["船舶", "造船"], "sastind": ["国防科工局"]}
TERMS = tuple(t for terms in KEYWORDS.values() for t in terms)
HIT_CLAUSES = [c for c in _KEYWORD_CLAUSES if any(t in c for t in TERMS)]
BIG = {"big-page": "sentences", "big-page-scattered": "scattered"}
BIG_TEXT = 1 << 20  # UTF-8 bytes of a big capture's text
HANZI = "的一是在不了有和人这中大为上个"
YEAR = 365 * 86400
DIFF_TIMEOUT = 2.0  # as watcher.analysis.analyse.Page.diff_timeout
MANIFEST_VERSION = 1
USERS_ASKING: list[str] = []  # who the pages are asked as, in turn (for the report)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- building


@dataclass(frozen=True, slots=True)
class Spec:
    """What one worker needs to build one target's history."""

    index: int
    name: str
    url: str
    big: str | None  # None, "sentences" or "scattered"
    seed: int
    start: float  # epoch seconds: a year before ``now``
    now: float
    captures: int
    changed: float
    hits: float
    checks_between: int
    blobs: str


@dataclass(slots=True)
class Built:
    """One target's rows, ready to insert (the blobs are written already)."""

    target: dict[str, Any]
    captures: list[dict[str, Any]] = field(default_factory=list)
    hits: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    texts: list[tuple[float, str, str]] = field(default_factory=list)  # (at, digest, terms)
    verified: int = 0  # texts whose fast terms were compared with index_terms
    mismatched: int = 0
    big_sizes: dict[str, int] = field(default_factory=dict)


class Terms:
    """``watcher.store.search.index_terms``, fast: a text's tokens are the union of its
    lines' tokens (no token spans a newline), and successive versions of a page
    share nearly all their lines. Checked against ``index_terms`` on the first text
    and every 25th; after any difference, ``index_terms`` itself is used."""

    exact = False  # per process: set for good on the first difference

    def __init__(self) -> None:
        self.cache: dict[str, frozenset[str]] = {}
        self.count = 0
        self.verified = 0
        self.mismatched = 0
        try:
            from watcher.store.search import _simplified, _tokens
        except ImportError:  # search.py changed: the slow, exact way
            Terms.exact = True
        else:
            self._tokens, self._simplified = _tokens, _simplified

    def __call__(self, text: str) -> str:
        self.count += 1
        if Terms.exact:
            return index_terms(text)
        tokens: set[str] = set()
        for line in text.split("\n"):
            found = self.cache.get(line)
            if found is None:
                found = self.cache[line] = frozenset(self._tokens(line))
            tokens |= found
        terms = self._simplified(" ".join(sorted(tokens)))
        if self.count % 25 == 1:
            self.verified += 1
            exact = index_terms(text)
            if exact != terms:
                self.mismatched += 1
                Terms.exact = True
                return exact
        return terms


_matcher: KeywordMatcher | None = None


def _keyword_sentence(rng: random.Random) -> str:
    return _sentence(rng, 0.0)[:-1] + "，" + rng.choice(HIT_CLAUSES) + "。"


def _new_sentence(rng: random.Random, keyword: bool) -> str:
    return _keyword_sentence(rng) if keyword else _sentence(rng, 0.0)


def edit_sentences(
    text: str, html: str, rng: random.Random, count: int, keywords: int = 0
) -> tuple[str, str, int, int]:
    """Rewrite ``count`` sentences (none naming a term) at random places, in the text
    and in the page; the first ``keywords`` new ones name a term. Returns the new
    text and page and the characters added and removed."""
    lines = text.split("\n")
    body = [i for i, line in enumerate(lines) if line.count("。") >= 2]
    if not body:
        body = [max(range(len(lines)), key=lambda i: len(lines[i]))]
    added = removed = 0
    for n in range(count):
        for _ in range(50):
            i = rng.choice(body)
            parts = lines[i].split("。")
            k = rng.randrange(max(1, len(parts) - 1))
            if not any(t in parts[k] for t in TERMS):
                break
        old = parts[k] + "。"
        new = old
        while new == old:
            new = _new_sentence(rng, n < keywords)
        parts[k] = new[:-1]
        lines[i] = "。".join(parts)
        html = html.replace(old, new, 1)
        added += len(new)
        removed += len(old)
    return "\n".join(lines), html, added, removed


def edit_chars(text: str, rng: random.Random, share: float) -> str:
    """Replace ``share`` of the characters one by one at random places (diff_speed.py)."""
    chars = list(text)
    positions = [i for i, ch in enumerate(chars) if ch != "\n"]
    for i in rng.sample(positions, round(len(chars) * share)):
        chars[i] = rng.choice([c for c in HANZI if c != chars[i]])
    return "".join(chars)


def big_page(rng: random.Random, index: int) -> tuple[str, str]:
    """(html, text): a UTF-8 notice page whose extracted text is about 1 MB."""
    size = int(BIG_TEXT * 1.3)
    for _ in range(3):
        html = build_page_html(rng, index, "utf8", size)
        text = _extract(html.encode("utf-8"), "text/html; charset=utf-8")[0].text
        got = len(text.encode("utf-8"))
        if abs(got - BIG_TEXT) < BIG_TEXT * 0.03:
            break
        size = int(size * BIG_TEXT / got)
    return html, text


def _extract(body: bytes, content_type: str) -> tuple[Any, str, str]:
    return document_of(Page(body, content_type, "https://www.example.gov.cn/"))


def _with_stamp(html: str, at: float) -> str:
    """The page as served at ``at``: same text, different bytes (a build comment)."""
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H%M%S%f")
    return html.replace("<head>", f"<head>\n<!-- page built {stamp} -->", 1)


def build_target(spec: Spec) -> Built:
    """A target's captures, hits, checks and search terms; its blobs are written here."""
    global _matcher
    if _matcher is None:
        _matcher = KeywordMatcher(KEYWORDS)
    rng = random.Random(spec.seed * 1_000_003 + spec.index)
    blobs = LocalBlobStore(Path(spec.blobs), fsync=False)
    terms = Terms()
    kind = rng.choices(ENCODING_CLASSES, weights=ENCODING_WEIGHTS)[0]
    size = int(min(40_000, max(5_000, rng.lognormvariate(math.log(10_000), 0.5))))
    html = build_page_html(rng, spec.index, kind, size)
    content_type = SitePage(spec.name, 0, kind, b"", 0).content_type
    codec = "utf-8" if kind == "utf8" else "gbk"
    document, encoding, source = _extract(html.encode(codec), content_type)
    text, title = document.text, document.title
    slot = (spec.now - 60 - spec.start) / spec.captures
    built = Built(target={})
    previous: dict[str, Any] | None = None
    fetched = spec.start
    for j in range(spec.captures):
        fetched = spec.start + (j + rng.uniform(0.1, 0.9)) * slot
        old_text = text
        found: list[Any] = []
        added = removed = 0
        roll = rng.random()
        big_step = spec.big is not None and j >= spec.captures - 2
        if j == 0:
            status = "new"
            found = find_hits(_matcher, None, text, None)
            added = len(text) - text.count("\n")
        elif big_step and j == spec.captures - 2:
            status = "changed"
            html, text = big_page(rng, spec.index)
            kind, codec, content_type = "utf8", "utf-8", "text/html; charset=utf-8"
            encoding, source = "utf-8", "meta"
            built.big_sizes["first_text_bytes"] = len(text.encode("utf-8"))
        elif big_step:
            status = "changed"
            if spec.big == "scattered":
                text = edit_chars(text, rng, 0.01)
                html = "<html><head><meta charset='utf-8'></head><body>\n" + "".join(
                    f"<p>{line}</p>\n" for line in text.split("\n")
                )
            else:
                edits = round(len(text) * 0.01 / 36)  # a sentence is ~36 characters
                text, html, _, _ = edit_sentences(text, html, rng, edits, edits // 12)
            built.big_sizes["second_text_bytes"] = len(text.encode("utf-8"))
        elif roll < spec.changed:
            status = "changed"
            keywords = 1 if roll < spec.hits else 0
            text, html, added, removed = edit_sentences(
                text, html, rng, rng.randint(1, 2), keywords
            )
        else:
            status = "unchanged"
        if status == "changed" and (big_step or roll < spec.hits):
            diff = diff_texts(old_text, text, timeout=DIFF_TIMEOUT)
            found = find_hits(_matcher, old_text, text, diff)
            added, removed = diff.added, diff.removed
        raw = _with_stamp(html, fetched).encode(codec, errors="xmlcharrefreplace")
        text_bytes = text.encode("utf-8")
        raw_digest = blobs.put(raw)
        text_digest = sha256(text_bytes)
        if status != "unchanged":
            blobs.put(text_bytes, text_digest)
            built.texts.append((fetched, text_digest, terms(text)))
        capture_id = new_id(fetched)
        at = datetime.fromtimestamp(fetched, UTC)
        modified = at.strftime("%a, %d %b %Y %H:%M:%S GMT")
        etag = f'"{int(fetched):x}-{len(raw):x}"'
        previous = {
            "id": capture_id,
            "target_id": spec.index + 1,
            "previous_id": previous["id"] if previous else None,
            "kind": status,
            "url": spec.url,
            "final_url": spec.url,
            "status_code": 200,
            "headers": [
                ["Server", "nginx"],
                ["Content-Type", content_type],
                ["Content-Length", str(len(raw))],
                ["Last-Modified", modified],
                ["ETag", etag],
            ],
            "fetched_at": at,
            "duration": round(rng.uniform(0.05, 1.5), 3),
            "raw_sha256": raw_digest,
            "raw_size": len(raw),
            "text_sha256": text_digest,
            "text_size": len(text_bytes),
            "content_type": content_type,
            "encoding": encoding,
            "encoding_source": source,
            "title": title,
            "added": added,
            "removed": removed,
            "hit_count": sum(h.count for h in found),
        }
        built.captures.append(previous)
        built.hits.extend((fetched, row) for row in _hit_rows(capture_id, found))
        built.checks.append(_check(spec, at, status, 200, previous["duration"], capture_id))
        following = spec.start + (j + 1.1) * slot if j + 1 < spec.captures else spec.now - 1
        step = (following - fetched) / (spec.checks_between + 1)
        for m in range(1, spec.checks_between + 1):
            when = datetime.fromtimestamp(fetched + m * step, UTC)
            if rng.random() < 0.02:
                built.checks.append(_check(spec, when, "error", None, 30.0, None, rng))
            else:
                code = 304 if rng.random() < 0.7 else 200
                built.checks.append(_check(spec, when, "unchanged", code, 0.1, None))
        last_etag, last_modified = etag, modified
    built.verified, built.mismatched = terms.verified, terms.mismatched
    built.target = _target_row(spec, built, last_etag, last_modified)
    return built


def _check(
    spec: Spec,
    at: datetime,
    status: str,
    http_status: int | None,
    duration: float,
    capture_id: str | None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    error = None
    if status == "error" and rng is not None:
        error = rng.choice(["timed out after 30 s", "HTTP 503 Service Unavailable"])
    return {
        "target_id": spec.index + 1,
        "checked_at": at,
        "status": status,
        "http_status": http_status,
        "duration": duration,
        "attempts": 3 if status == "error" else 1,
        "capture_id": capture_id,
        "error": error,
    }


def _target_row(spec: Spec, built: Built, etag: str, modified: str) -> dict[str, Any]:
    last = built.checks[-1]
    errors = 0
    for check in reversed(built.checks):
        if check["status"] != "error":
            break
        errors += 1
    return {
        "id": spec.index + 1,
        "name": spec.name,
        "url": spec.url,
        "created_at": built.captures[0]["fetched_at"],
        "last_checked_at": last["checked_at"],
        "last_status": last["status"],
        "last_error": last["error"],
        "consecutive_errors": errors,
        "last_capture_id": built.captures[-1]["id"],
        "etag": etag,
        "last_modified": modified,
        "next_check_at": None,
    }


def target_names(count: int) -> list[str]:
    names = [f"site-{i + 1:04d}" for i in range(count - len(BIG))]
    return names + list(BIG)


def target_url(index: int, name: str) -> str:
    return f"https://www{index % 40}.example.gov.cn/zwgk/tzgg/{name}.html"


def write_config(path: Path, names: list[str]) -> None:
    """targets.yaml for the dashboard: every target, two keyword groups, tags."""
    tags = ["miit", "sastind", "gov-cn", "province"]
    config = {
        "settings": {"concurrency": 16, "per_host": 2, "host_delay": 1},
        "defaults": {"interval": "1h", "keywords": list(KEYWORDS)},
        "keywords": KEYWORDS,
        "targets": [
            {
                "name": name,
                "title": f"通知公告 {name}",
                "url": target_url(i, name),
                "tags": [tags[i % len(tags)]],
            }
            for i, name in enumerate(names)
        ],
    }
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")


def build_store(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Generate every target in worker processes, then insert the rows in time order."""
    from watcher.store.index import Store

    started = time.perf_counter()
    data = work / "snapshots"
    names = target_names(args.targets)
    write_config(work / "targets.yaml", names)
    store = Store(data, fsync=False, index=args.store)  # the schema is made here
    with store.engine.connect() as conn:
        if conn.exec_driver_sql("SELECT count(*) FROM targets").scalar():
            store.close()
            sys.exit(f"the index {args.store} is not empty: give an empty database")
    now = time.time()
    specs = [
        Spec(
            index=i,
            name=name,
            url=target_url(i, name),
            big=BIG.get(name),
            seed=args.seed,
            start=now - YEAR,
            now=now,
            captures=args.captures,
            changed=args.changed,
            hits=args.hits,
            checks_between=args.checks_between,
            blobs=str(store.blobs.root),
        )
        for i, name in enumerate(names)
    ]
    results: list[Built] = []
    log(f"building {len(specs)} targets × {args.captures} captures with {args.workers} workers")
    with mp.get_context("fork").Pool(args.workers) as pool:
        for n, built in enumerate(pool.imap_unordered(build_target, specs, chunksize=4), 1):
            results.append(built)
            if n % 100 == 0 or n == len(specs):
                log(f"  {n} targets generated, {time.perf_counter() - started:.0f} s")
    generated = time.perf_counter() - started
    counts = insert_rows(store, results)
    store.close()
    big = {b.target["name"]: b.big_sizes for b in results if b.big_sizes}
    verified = sum(b.verified for b in results)
    mismatched = sum(b.mismatched for b in results)
    return {
        **counts,
        "built_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
        "generate_s": round(generated, 1),
        "build_s": round(time.perf_counter() - started, 1),
        "big_texts": big,
        "terms_verified": verified,
        "terms_mismatched": mismatched,
    }


def insert_rows(store: Any, results: list[Built]) -> dict[str, int]:
    """All rows in time order (as a year of checks would have written them), in big
    transactions through the store's own engine and tables."""
    import sqlalchemy as sa

    from watcher.store import dialects, postgres
    from watcher.store.schema import captures, checks, hits, search_texts, targets
    from watcher.store.sqlite import SEARCH_INSERT

    started = time.perf_counter()
    capture_rows = sorted((c for b in results for c in b.captures), key=lambda c: c["fetched_at"])
    hit_rows = [row for _, row in sorted((h for b in results for h in b.hits), key=lambda h: h[0])]
    check_rows = sorted((c for b in results for c in b.checks), key=lambda c: c["checked_at"])
    texts: dict[str, str] = {}
    for _, digest, terms in sorted(t for b in results for t in b.texts):
        texts.setdefault(digest, terms)
    tables: list[tuple[str, Any, list[Any]]] = [
        ("targets", sa.insert(targets), sorted((b.target for b in results), key=lambda t: t["id"])),
        ("captures", sa.insert(captures), capture_rows),
        ("hits", sa.insert(hits), hit_rows),
        ("checks", sa.insert(checks), check_rows),
        (
            "search_texts",
            sa.insert(search_texts),
            [{"id": i, "text_sha256": d} for i, d in enumerate(texts, 1)],
        ),
    ]
    on_server = store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        if not on_server:
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
        for name, statement, rows in tables:
            t0 = time.perf_counter()
            for start in range(0, len(rows), 20_000):
                conn.execute(statement, rows[start : start + 20_000])
            if name in ("targets", "search_texts"):  # their ids were given
                dialects.of(conn).sync_identity(conn, name)
            conn.commit()
            log(f"  {name}: {len(rows):,} rows in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        # exactly what watcher.store.sqlite.index_text does for a new text, many at a time
        fts = [{"id": i, "terms": terms} for i, terms in enumerate(texts.values(), 1)]
        if on_server:  # exactly what watcher.store.postgres.index_text does
            fts = [{"id": r["id"], "terms": postgres._lexemes("", r["terms"])} for r in fts]
        insert = postgres.SEARCH_INSERT if on_server else SEARCH_INSERT
        for start in range(0, len(fts), 5_000):
            conn.execute(insert, fts[start : start + 5_000])
        conn.commit()
        if on_server:
            conn.exec_driver_sql("ANALYZE")  # as autovacuum would after such a load
            conn.commit()
        kind = "tsvector" if on_server else "FTS5"
        log(f"  search ({kind}): {len(fts):,} texts in {time.perf_counter() - t0:.1f} s")
    log(f"  inserted in {time.perf_counter() - started:.0f} s")
    return {
        "targets": len(results),
        "captures": len(capture_rows),
        "captures_with_hits": sum(1 for c in capture_rows if c["hit_count"]),
        "hit_rows": len(hit_rows),
        "checks": len(check_rows),
        "distinct_texts": len(texts),
    }


def store_figures(work: Path, url: str | None = None) -> dict[str, Any]:
    data = work / "snapshots"
    index = [p for p in data.iterdir() if p.name.startswith("index.sqlite")]
    index_bytes = sum(p.stat().st_size for p in index)
    if url:
        from watcher.store.index import Store

        with Store(data, readonly=True, index=url) as store, store.engine.connect() as conn:
            index_bytes = conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())"
            ).scalar()
    total, disk = tree_size(data)
    blob_files = sum(1 for p in (data / "blobs").rglob("*.zst"))
    return {
        "index_mb": round(index_bytes / 2**20, 1),
        "blobs": blob_files,
        "store_mb": round(total / 2**20, 1),
        "store_disk_mb": round(disk / 2**20, 1),
    }


def schema_fingerprint() -> str:
    """A hash of the migrations: a kept store built under others is built anew."""
    import watcher.store.index

    digest = hashlib.sha256()
    for path in sorted((Path(watcher.store.index.__file__).parent / "migrations").rglob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def prepare(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    """The store's manifest, and whether it was reused."""
    manifest_path = WORK / "manifest.json"
    wanted = {
        "version": MANIFEST_VERSION,
        "targets": args.targets,
        "captures": args.captures,
        "changed": args.changed,
        "hits": args.hits,
        "checks_between": args.checks_between,
        "seed": args.seed,
        "schema": schema_fingerprint(),
        "store": args.store,
    }
    if args.keep and not args.rebuild and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text("utf-8"))
        if manifest.get("params") == wanted:
            log(f"reusing the store in {WORK} (built {manifest['build']['built_at']})")
            return manifest, True
        log("the kept store was built with other parameters or schema: rebuilding")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    build = build_store(args, WORK)
    manifest = {"params": wanted, "build": build, "size": store_figures(WORK, args.store)}
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
    return manifest, False


# --------------------------------------------------------------------------- measuring


@dataclass(slots=True)
class Timing:
    label: str
    path: str
    goal_ms: float
    status: int = 0
    kb: float = 0.0
    cold_ms: float = 0.0
    median_ms: float = 0.0
    p90_ms: float = 0.0
    min_ms: float = 0.0
    max_ms: float = 0.0
    cpu_ms: float = 0.0  # median CPU time of the process per request
    runs_ms: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def met(self) -> bool:
        return self.status == 200 and self.median_ms < self.goal_ms


def pages(target: str, noise_item: int = 0, item: int = 0) -> list[tuple[str, str, float]]:
    return [
        ("inbox (unread)", "/inbox", 200),
        ("inbox all", "/inbox?view=all", 200),
        ("inbox assigned to me", "/inbox?view=all&assignee=me", 200),
        ("inbox item (grouped)", f"/inbox/{item}", 200),
        ("inbox noise item, rules", f"/inbox/{noise_item}", 1000),
        ("dashboard", "/", 200),
        ("target page", f"/t/{target}", 200),
        ("diff 1 MB, sentences", "/t/big-page/diff", 500),
        ("diff 1 MB, scattered chars", "/t/big-page-scattered/diff", 500),
        ("search 船舶", "/search?q=船舶", 200),
        ("search 国防科工局", "/search?q=国防科工局", 200),
        ("search pdf", "/search?q=pdf", 200),
        ("hits", "/hits", 200),
        ("api targets", "/api/targets", 200),
        ("feed", "/feed.atom", 200),
    ]


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


async def measure(
    app: Any, wanted: list[tuple[str, str, float]], runs: int, warmup: int, users: list[str]
) -> list[Timing]:
    import httpx

    out = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for label, path, goal in wanted:
            timing = Timing(label, path, goal)
            cpu: list[float] = []
            for n in range(warmup + runs):
                c0, t0 = time.process_time(), time.perf_counter()
                who = {"x-user": users[n % len(users)]} if users else {}
                response = await client.get(path, headers=who)
                elapsed = (time.perf_counter() - t0) * 1000
                if n == 0:
                    timing.cold_ms = round(elapsed, 1)
                if n >= warmup:
                    timing.runs_ms.append(round(elapsed, 1))
                    cpu.append((time.process_time() - c0) * 1000)
            timing.cpu_ms = round(statistics.median(cpu), 1)
            timing.status = response.status_code
            timing.kb = round(len(response.content) / 1024, 1)
            timing.median_ms = round(statistics.median(timing.runs_ms), 1)
            timing.p90_ms = _p90(timing.runs_ms)
            timing.min_ms, timing.max_ms = min(timing.runs_ms), max(timing.runs_ms)
            timing.note = await _note(client, path)
            log(f"  {label}: median {timing.median_ms} ms")
            out.append(timing)
    return out


async def _note(client: Any, path: str) -> str:
    """What the page showed, from the JSON API (one untimed request)."""
    if path.startswith("/search?q="):
        q = path.split("=", 1)[1]
        found = (await client.get("/api/search", params={"q": q})).json()
        return f"{len(found['results'])} results, more: {found['more']}"
    if path.startswith("/inbox/"):
        html = (await client.get(path, headers={"x-user": "bench"})).text
        offered = html.count('<li class="rule">')
        if offered:
            return f"{offered} rules offered"
        why = html.split("No rule offered: ", 1)[1].split("<", 1)[0] if "No rule" in html else ""
        return f"no rule offered: {why}" if why else ""
    if path.endswith("/diff"):
        name = path.split("/")[2]
        diff = (await client.get(f"/api/targets/{name}/diff")).json()
        return f"+{diff['added']}/-{diff['removed']}, timed out: {diff['timed_out']}"
    return ""


# --------------------------------------------------------------------------- report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--targets", type=int, default=1000, help="targets in the store (1000)")
    p.add_argument("--captures", type=int, default=100, help="captures per target (100)")
    p.add_argument("--changed", type=float, default=0.6, help="later captures with a new text")
    p.add_argument("--hits", type=float, default=0.05, help="later captures adding 船舶/国防科工局")
    p.add_argument("--checks-between", type=int, default=2, help="checks without a capture")
    p.add_argument("--seed", type=int, default=20240501)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="build processes")
    p.add_argument(
        "--keep", action="store_true", help="keep the store in bench/.work/web, reuse it"
    )
    p.add_argument("--rebuild", action="store_true", help="with --keep: build it anew anyway")
    p.add_argument("--runs", type=int, default=15, help="timed requests per page (15)")
    p.add_argument("--warmup", type=int, default=2, help="untimed requests first (2)")
    p.add_argument("--target", default="site-0500", help="the target page to time")
    p.add_argument("--only", help="time only the pages whose label contains this")
    p.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    p.add_argument("--users", type=int, default=10, help="users asking in turn (10; 0: none)")
    p.add_argument(
        "--store", help="the index in this PostgreSQL database (empty) instead of SQLite"
    )
    args = p.parse_args(argv)
    if args.targets < len(BIG) + 1 or args.captures < 3:
        p.error("need at least 3 targets and 3 captures per target")
    if not 0 <= args.hits <= args.changed <= 1:
        p.error("need 0 <= --hits <= --changed <= 1")
    return args


def _inbox_items(data: Path, url: str | None) -> tuple[int, int]:
    """A grouped item, and a noise item of one page's change (its rules are offered)."""
    import sqlalchemy as sa

    from watcher.store.index import Store

    with Store(data, readonly=True, index=url) as store, store.engine.connect() as conn:
        grouped = conn.exec_driver_sql(
            "SELECT id FROM inbox_items WHERE count > 1 ORDER BY id LIMIT 1"
        ).scalar()
        noise = conn.execute(  # a bound pattern: psycopg reads a literal % as a placeholder
            sa.text(
                "SELECT i.id FROM inbox_items i JOIN targets t ON t.id = i.target_id"
                " WHERE i.state = 'noise' AND i.kind = 'changed' AND i.count = 1"
                " AND t.name LIKE :pattern ORDER BY i.id DESC LIMIT 1"
            ),
            {"pattern": "site-%"},
        ).scalar()
    return grouped or 1, noise or 1


def print_report(
    manifest: dict[str, Any], reused: bool, timings: list[Timing], load: list[float]
) -> None:
    b, s = manifest["build"], manifest["size"]
    print(
        f"store: {b['targets']:,} targets, {b['captures']:,} captures "
        f"({b['distinct_texts']:,} distinct texts, {b['captures_with_hits']:,} with hits, "
        f"{b['hit_rows']:,} hit rows), {b['checks']:,} checks"
    )
    print(
        f"       {s['store_mb']:,} MB ({s['store_disk_mb']:,} MB on disk): index "
        f"{s['index_mb']:,} MB, {s['blobs']:,} blobs; built in {b['build_s']} s"
        + (" (reused)" if reused else "")
    )
    for name, sizes in b["big_texts"].items():
        print(f"       {name}: last two texts {sizes.get('first_text_bytes', 0) / 2**20:.2f} MB")
    if manifest.get("inbox"):
        print(f"       inbox: {manifest['inbox']}")
    if b["terms_mismatched"]:
        print(f"       search terms: fast path differed {b['terms_mismatched']}x, index_terms used")
    head = (
        f"{'page':30} {'median':>8} {'p90':>8} {'cpu':>8} {'cold':>8} {'goal':>6}  {'KB':>7}  met"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for t in timings:
        met = "yes" if t.met else ("NO" if t.status == 200 else f"HTTP {t.status}")
        print(
            f"{_pad(t.label, 30)} {t.median_ms:8.1f} {t.p90_ms:8.1f} {t.cpu_ms:8.1f} "
            f"{t.cold_ms:8.1f} "
            f"{t.goal_ms:6.0f}  {t.kb:7.1f}  {met}" + (f"  ({t.note})" if t.note else "")
        )
    runs = len(timings[0].runs_ms) if timings else 0
    print(
        f"\nserver time in ms over {runs} requests (cpu: the process's CPU time, median; "
        f"cold: the first request)\ngoals met (median under the goal): "
        f"{sum(t.met for t in timings)} of {len(timings)}; load average during the run "
        f"{load[0]:.1f} on {os.cpu_count()} CPUs; asked as {len(USERS_ASKING)} users in turn"
    )


def _pad(text: str, width: int) -> str:
    """Left-justify for a terminal: a Chinese character takes two columns."""
    columns = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - columns)


def main(argv: list[str] | None = None) -> int:
    global WORK
    args = parse_args(argv)
    if args.store:  # a folder of its own: a kept SQLite store stays beside it
        WORK = WORK.with_name("web-pg")
    manifest, reused = prepare(args)
    from inbox import USERS, AsUser, add_inbox

    from watcher.cli import startup
    from watcher.web.app import create_app

    users = USERS[: args.users]
    USERS_ASKING[:] = users
    manifest["inbox"] = add_inbox(WORK / "snapshots", 0.1, index=args.store) if users else {}
    log(f"inbox: {manifest['inbox']}")
    item, noise_item = _inbox_items(WORK / "snapshots", args.store)
    wanted = [p for p in pages(args.target, noise_item, item) if not args.only or args.only in p[0]]
    if not users:
        wanted = [p for p in wanted if not p[0].startswith("inbox")]
    startup.begin()
    app = create_app(WORK / "snapshots", WORK / "targets.yaml", index=args.store)
    app.add_middleware(AsUser)
    startup.settle()  # as `watcher serve` does: its start-up's objects left out of collections
    log(f"timing {len(wanted)} pages, {args.warmup} warm-ups + {args.runs} runs each")
    try:
        timings = asyncio.run(measure(app, wanted, args.runs, args.warmup, users))
        load = list(os.getloadavg())  # other processes competing for the CPUs skew the times
    finally:
        app.state.context.close()
        app.state.inbox_writer.close()
        if not args.keep:
            shutil.rmtree(WORK, ignore_errors=True)
    if args.json:
        figures = {
            **manifest,
            "reused": reused,
            "pages": [{**asdict(t), "met": t.met} for t in timings],
            "all_met": all(t.met for t in timings),
            "load_average": round(load[0], 2),
            "cpus": os.cpu_count(),
        }
        print(json.dumps(figures, indent=2, ensure_ascii=False))
    else:
        print_report(manifest, reused, timings, load)
    return 0 if all(t.status == 200 for t in timings) else 1


if __name__ == "__main__":
    sys.exit(main())
