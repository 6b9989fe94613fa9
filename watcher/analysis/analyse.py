"""The CPU-bound middle of a check: decode → extract → diff → keywords → blobs.

It takes and returns small picklable objects so that it can run in a worker
process: parsing and diffing a thousand pages would otherwise compete with the
event loop for one interpreter lock. It reads the previous text from the blob
store by digest and writes the new blobs itself (compressed; fsynced and renamed, or uploaded),
so no text crosses the process boundary and the caller only commits the index
row, after the blobs are safely on disk.

"Unchanged" means equal comparison keys (``watcher.core.text.comparison_key``):
the text of record keeps the page's spaces, but one inserted or removed between
Hanzi is no change, and the added/removed counts do not count such spaces. A
previous capture made by another extraction version is compared after its bytes
are re-extracted with this code, so an upgrade that reads pages better raises no
alert; without its bytes, its stored text is used.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from watcher.core import heap
from watcher.core.budget import (
    DEFAULT_MAX_ELEMENTS,
    DEFAULT_REGEX_TIMEOUT,
    FILE_TEXT_SECONDS,
    OverBudget,
    PatternTimeout,
    count_elements,
)
from watcher.core.models import Document, TermHits
from watcher.diff import excerpt
from watcher.store.blobs import (
    BlobLocation,
    BlobStore,
    DamagedBlob,
    compress,
    local_location,
    open_blobs,
    sha256,
)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from watcher.analysis.metadata import MetadataReader
    from watcher.diff.excerpt import Excerpt
    from watcher.diff.ops import Op, TextDiff
    from watcher.keywords import KeywordMatcher
    from watcher.store.facts import NoticeFacts

log = logging.getLogger(__name__)

# The parsing libraries (lxml, OpenCC, charset-normalizer, diff) are imported
# where pages are parsed, so a process that hands pages to workers stays light.


class ExtractionProblem(Exception):
    """The page came back but yields no text to compare (e.g. ``select`` matched nothing)."""


@dataclass(frozen=True, slots=True)
class Page:
    """A fetched new version of a target's page and how to read it."""

    body: bytes
    content_type: str | None
    final_url: str
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # keyword groups that apply to this target
    previous_text_sha256: str | None = None  # None on a first capture
    diff_timeout: float = 2.0
    regex_timeout: float = DEFAULT_REGEX_TIMEOUT  # one ignore or keyword pattern on the text
    max_elements: int = DEFAULT_MAX_ELEMENTS  # tags the page may have: its memory budget
    # seconds a file's text may take to read: no longer than the target's own timeout
    file_timeout: float = FILE_TEXT_SECONDS
    excerpt_limit: int = 1500  # changed characters kept for the alert message
    document: bool = False  # a listing's document: its attachment links
    previous_last_modified: str | None = None  # the notice's last metadata time, if any
    previous_extraction: int | None = None  # version that made the previous text, if known
    previous_rules_sha256: str | None = None  # rules that made it (``rules_sha256``), if known
    previous_source_sha256: str | None = None  # the bytes that text came from (raw or DOM)
    previous_content_type: str | None = None
    content_disposition: str | None = None  # a download's header, naming its file
    # the document the notice is already a copy of: (its key, None without a 文号)
    linked_to: tuple[str | None] | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the analysis found; its blobs are already stored."""

    title: str
    text_size: int  # UTF-8 bytes
    encoding: str
    encoding_source: str
    text_changed: bool
    added: int
    removed: int
    hits: tuple[TermHits, ...]  # per term and direction: positions as ints, a few snippets
    diff_timed_out: bool
    raw_sha256: str
    text_sha256: str
    excerpt: Excerpt | None = None  # what changed, bounded, for messages
    looks_removed: bool = False  # a short page saying it does not exist (soft 404)
    attachment_links: tuple[tuple[str, str], ...] = ()  # (absolute URL, link text)
    metadata: dict[str, str] | None = None  # a document's 发文字号, dates, issuer …
    extraction_version: int | None = None  # the extraction that made the text
    warnings: tuple[dict[str, object], ...] = ()  # what reading the bytes could not do
    moved: int = 0  # characters in blocks that moved (neither added nor removed)
    change_key: str | None = None  # the added and removed text's hash: one edit, many pages
    facts: NoticeFacts | None = None  # the notice's identity, citations and deadlines
    rules_sha256: str | None = None  # the rules that made the text (``rules_sha256``)


@dataclass(frozen=True, slots=True)
class Context:
    """Per-process state: set up once, reused for every page."""

    matcher: KeywordMatcher
    blobs: BlobStore


_context: Context | None = None


def init(
    keywords: Mapping[str, Sequence[str]], blobs: Path | BlobLocation, fsync: bool = True
) -> None:
    """Prepare this process (a pool worker, or the main process for threads); ``blobs``
    is where the store's blobs are (a folder, or a bucket)."""
    from watcher.keywords import KeywordMatcher

    global _context
    location = blobs if isinstance(blobs, BlobLocation) else local_location(blobs, fsync=fsync)
    _context = Context(KeywordMatcher(keywords), open_blobs(location))


def run(page: Page) -> Analysis:
    """Analyse one page in this process; ``init`` must have been called."""
    analysis, frames = _analysed(page)
    _blobs().put_frames(frames)
    return analysis


def _blobs() -> BlobStore:
    if _context is None:
        raise RuntimeError("watcher.analysis.analyse.init() was not called in this process")
    return _context.blobs


def _analysed(page: Page) -> tuple[Analysis, dict[str, bytes]]:
    """The analysis and the blobs it needs stored before it may be committed."""
    previous, note = _previous(_blobs(), page)
    assert _context is not None
    matcher = _context.matcher.restricted(page.groups, page.regex_timeout)
    rules = rules_sha256(page)
    try:
        analysis, frames = analyse(page, previous, matcher)
        if (
            analysis.text_changed
            and previous is not None
            and note is None
            and page.previous_rules_sha256 != rules
        ):
            analysis, frames = _under_current_rules(page, previous, matcher, analysis, frames)
    except PatternTimeout as exc:  # named with the page, and how to give it more time
        raise PatternTimeout(
            f"{exc} on {page.final_url} (settings.regex_timeout; or make the pattern simpler)"
        ) from None
    analysis = replace(analysis, rules_sha256=rules)
    if note is not None:
        analysis = replace(analysis, warnings=(*analysis.warnings, note))
    return analysis, frames


def rules_sha256(page: Page) -> str:
    """The SHA-256 of the target's rules that shape its text (``select``, ``exclude``,
    ``ignore``, and a document's attachment names): recorded with each capture, so a
    changed page whose rules are those of its previous capture is not read again."""
    rules = [list(page.select), list(page.exclude), list(page.ignore), page.document]
    return sha256(json.dumps(rules, ensure_ascii=False).encode("utf-8"))


def _under_current_rules(
    page: Page,
    previous: str,
    matcher: KeywordMatcher,
    analysis: Analysis,
    frames: dict[str, bytes],
) -> tuple[Analysis, dict[str, bytes]]:
    """A change that only the target's rules made (an ``ignore`` or ``exclude`` just
    added, say from the inbox's noise) is none: when the previous bytes, read with
    today's rules, give today's text, the page did not change. Costs one more
    extraction, for a changed page whose previous capture was made under other rules
    (or under rules not recorded: before schema ``0013_rules``)."""
    assert _context is not None
    again = _reextracted(_context.blobs, page, force=True)
    if again is None or again == previous:
        return analysis, frames
    retry, retry_frames = analyse(page, again, matcher)
    return (analysis, frames) if retry.text_changed else (retry, retry_frames)


def _previous(blobs: BlobStore, page: Page) -> tuple[str | None, dict[str, object] | None]:
    """The text to diff against, and a warning for the capture when the stored one
    is damaged or lost. A damaged text must neither stop a target for good nor make
    a diff of garbage: it is read again from the previous capture's bytes when those
    are sound, else the page is compared as a first capture."""
    again = _reextracted(blobs, page)
    if again is not None or page.previous_text_sha256 is None:
        return again, None
    digest = page.previous_text_sha256
    try:
        return blobs.get(digest).decode("utf-8"), None
    except Exception as exc:
        problem = exc.reason if isinstance(exc, DamagedBlob) else str(exc)
    again = _reextracted(blobs, page, force=True)
    if again is not None:
        log.error("previous text %s unreadable (%s); read again from its bytes", digest, problem)
        how = "its text was read again from that capture's stored bytes"
    else:
        log.error("previous text %s unreadable (%s); comparing as a first capture", digest, problem)
        how = "this capture was compared as a first one (everything counts as added)"
    message = f"the previous capture's text (blob {digest}) is unreadable: {problem}; {how}"
    return again, {"kind": "previous-text-damaged", "message": message}


def _reextracted(blobs: BlobStore, page: Page, *, force: bool = False) -> str | None:
    """The previous capture's text as this code reads its bytes, when an older
    extraction made its stored text (or ``force``: the stored text is damaged);
    None when it needs none or cannot have one."""
    from watcher.analysis.extract import EXTRACTION_VERSION

    if page.previous_text_sha256 is None or page.previous_source_sha256 is None:
        return None
    if not force and page.previous_extraction in (None, EXTRACTION_VERSION):
        return None
    try:
        body = blobs.get(page.previous_source_sha256)
        old = Page(
            body=body,
            content_type=page.previous_content_type,
            final_url=page.final_url,
            select=page.select,
            exclude=page.exclude,
            ignore=page.ignore,
            regex_timeout=page.regex_timeout,
            max_elements=page.max_elements,
        )
        return document_of(old)[0].text
    except Exception as exc:  # a lost or damaged blob, or bytes the new code cannot read
        log.warning("previous bytes %s not re-extracted (%s)", page.previous_source_sha256, exc)
        return None


def run_many(pages: list[Page]) -> list[Analysis | Exception]:
    """``run`` for a batch; a page that fails gives its exception, not the batch's.

    A page's blobs are written by a few threads while the next page is parsed: each
    fsync waits on the disk (about 8 ms a file and its folder, here), which would
    idle the worker, and fsyncs at once share the file system's journal commits.
    Every blob is written as ``run`` writes it, and the batch returns once all are.

    After a big page the freed heap goes back to the system: parsing a 1 MB page
    takes about 15 MB, which a worker would otherwise hold for the rest of its
    life (measured: 48 MB held after a 1 MB page, 39 MB trimmed).
    """
    from concurrent.futures import ThreadPoolExecutor

    outcomes: list[Analysis | Exception] = []
    writes: list[tuple[int, Future[None]]] = []
    with ThreadPoolExecutor(BLOB_WRITERS, thread_name_prefix="blobs") as writers:
        for page in pages:
            try:
                analysis, frames = _analysed(page)
            except Exception as exc:  # returned to the caller of that page
                outcomes.append(exc)
                continue
            writes.append((len(outcomes), writers.submit(_blobs().put_frames, frames)))
            outcomes.append(analysis)
    for index, write in writes:
        error = write.exception()
        if isinstance(error, Exception):  # its blobs are not all there: no capture
            outcomes[index] = error
        elif error is not None:
            raise error
    if max((len(p.body) for p in pages), default=0) >= TRIM_AFTER_BYTES:
        heap.trim()
    return outcomes


TRIM_AFTER_BYTES = 256 * 1024  # a page this big leaves megabytes of freed heap behind
BLOB_WRITERS = 4  # threads of a worker storing its batch's blobs


def analyse(
    page: Page, previous_text: str | None, matcher: KeywordMatcher
) -> tuple[Analysis, dict[str, bytes]]:
    """Decode, extract, diff against the previous text, find hits; and the blobs
    to store, compressed (digest → zstd frame)."""
    from watcher.analysis.extract import EXTRACTION_VERSION
    from watcher.core.text import comparison_key
    from watcher.diff.ops import diff_texts
    from watcher.keywords import find_hits, metadata_hits

    reading = read_page(page, links=page.document)
    document, encoding, source = reading.document, reading.encoding, reading.source
    moved = 0
    key = None
    text = document.text
    # any HTML page: plain targets cite notices too; a download's own facts (its file
    # name) come with the reading
    metadata = {**(_metadata(reading.notice, text) or {}), **(reading.metadata or {})} or None
    # a notice re-published with a new lastmodifiedtime has changed, whatever its text
    touched = bool(
        metadata
        and page.previous_last_modified
        and metadata.get("last_modified") not in (None, page.previous_last_modified)
    )
    if previous_text is None:  # a new notice: its issuer and 文号 may be what is watched
        hits = tuple(find_hits(matcher, None, text, None) + metadata_hits(matcher, metadata, text))
        changed, added, removed, timed_out = True, len(text) - text.count("\n"), 0, False
        shown = excerpt.of_text(text, page.excerpt_limit)
    elif previous_text == text or comparison_key(previous_text) == comparison_key(text):
        hits, changed, added, removed, timed_out = (), touched, 0, 0, False
        shown = None
    else:
        diff = diff_texts(previous_text, text, timeout=page.diff_timeout)
        hits = tuple(find_hits(matcher, previous_text, text, diff))
        added, removed = _counts(diff, previous_text, text)
        key = change_key(diff)
        changed, timed_out, moved = True, diff.timed_out, diff.moved
        shown = excerpt.of_diff(diff, page.excerpt_limit)
    text_bytes = text.encode("utf-8")
    raw_digest, text_digest = sha256(page.body), sha256(text_bytes)
    compressed = {raw_digest: compress(page.body), text_digest: compress(text_bytes)}
    analysis = Analysis(
        title=document.title,
        text_size=len(text_bytes),
        encoding=encoding,
        encoding_source=source,
        text_changed=changed,
        added=added,
        removed=removed,
        hits=hits,
        diff_timed_out=timed_out,
        raw_sha256=raw_digest,
        text_sha256=text_digest,
        excerpt=shown,
        looks_removed=looks_removed(document.title, text),
        attachment_links=_attachment_links(document) if page.document else (),
        metadata=metadata,
        extraction_version=EXTRACTION_VERSION,
        warnings=reading.warnings,
        moved=moved,
        change_key=key,
        facts=_facts(text, metadata, document.title, page.linked_to) if changed else None,
    )
    return analysis, compressed


CHANGE_CONTEXT = 6  # characters of its own line kept on each side of an edit in its key


def change_key(diff: TextDiff) -> str | None:
    """What an edit added and removed, and the few characters around it, whatever page
    it is on: the same footer or ICP number changed on forty targets gives forty equal
    keys (spaces ignored), while a counter going 101→102 and an ICP number going
    …01→…02 differ by what surrounds the digit."""
    parts: list[str] = []
    ops = list(diff.ops)
    for i, op in enumerate(ops):
        if op.kind not in ("insert", "delete"):
            continue
        before = _equal_text(ops, i, -1)[-CHANGE_CONTEXT:]
        after = _equal_text(ops, i, 1)[:CHANGE_CONTEXT]
        sign = "+" if op.kind == "insert" else "-"
        parts.append(f"{before}\x1d{sign}{''.join(op.text.split())}\x1d{after}")
    if not parts:
        return None
    return sha256("\x1e".join(parts).encode("utf-8"))


def _equal_text(ops: list[Op], index: int, step: int) -> str:
    """The unchanged text next to an edit on its own line (spaces dropped), skipping
    the other half of a replacement; the lines around differ from page to page."""
    found = ""
    j = index + step
    while 0 <= j < len(ops) and len(found) < CHANGE_CONTEXT:
        op = ops[j]
        if op.kind == "equal":
            if step < 0:
                line = op.text.rpartition("\n")[2]
                found = "".join(line.split()) + found
                if "\n" in op.text:
                    break
            else:
                line = op.text.partition("\n")[0]
                found += "".join(line.split())
                if "\n" in op.text:
                    break
        elif op.kind not in ("insert", "delete"):
            break
        j += step
    return found


def _counts(diff: TextDiff, old: str, new: str) -> tuple[int, int]:
    """Characters added and removed, without newlines and without the spaces the
    comparison key folds (a space put between Hanzi adds nothing)."""
    from watcher.core.text import CJK_SPACE
    from watcher.diff.ops import NEW_KINDS, OLD_KINDS

    folded_old = [m.start() for m in CJK_SPACE.finditer(old)]
    folded_new = [m.start() for m in CJK_SPACE.finditer(new)]
    added = removed = old_pos = new_pos = 0
    for op in diff.ops:
        n = len(op.text)
        if op.kind == "insert":
            added += n - op.text.count("\n") - _within(folded_new, new_pos, new_pos + n)
        elif op.kind == "delete":
            removed += n - op.text.count("\n") - _within(folded_old, old_pos, old_pos + n)
        if op.kind in OLD_KINDS:  # moved text is neither added nor removed
            old_pos += n
        if op.kind in NEW_KINDS:
            new_pos += n
    return added, removed


def _within(positions: list[int], start: int, end: int) -> int:
    return bisect.bisect_left(positions, end) - bisect.bisect_left(positions, start)


# "404" as a status code: not part of a number (1,404, 404.5, 第404), nor a quantity
# (404 bytes, as a file's own description line says, 404 KB, 404条); "404页面" is one.
_QUANTITY = r"\s*(?:(?:bytes?|[kmg]?i?b)(?![a-z])|字节|[个条号期次元万人份件项篇位名天年]|页(?!面))"
_STATUS_404 = rf"(?<![0-9a-z_第])(?<![0-9][.,])404(?![0-9a-z_]|[.,][0-9]|{_QUANTITY})"
_GONE = re.compile(
    r"页面不存在|页面未找到|访问的页面不存在|该信息已删除|信息已删除|已被删除|已经删除|"
    r"找不到(?:该|您|你)?(?:要)?(?:访问)?的?页面|page not found|404 not found|" + _STATUS_404,
    re.IGNORECASE,
)
_ATTACHMENT_EXTENSIONS = (
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".wps",
    ".et",
    ".ofd",
    ".zip",
    ".rar",
    ".7z",
)


def _metadata(notice: MetadataReader | None, text: str) -> dict[str, str] | None:
    """A notice's citable metadata, when the page shows any (HTML only: ``notice`` is
    None for files and JSON)."""
    if notice is None:
        return None
    found = notice.result(text).to_json()
    found.pop("sources", None)
    return {k: str(v) for k, v in found.items() if v} or None


def _facts(
    text: str, metadata: dict[str, str] | None, title: str, linked_to: tuple[str | None] | None
) -> NoticeFacts | None:
    """What links this notice to its copies on other sites (watcher.analysis.identity)."""
    from watcher.analysis.identity import facts_of

    return facts_of(text, metadata, title, linked_to)


def _attachment_links(document: Document) -> tuple[tuple[str, str], ...]:
    from watcher.analysis.attachments import is_attachment_url

    return tuple((link.url, link.text) for link in document.links if is_attachment_url(link.url))


def looks_removed(title: str, text: str) -> bool:
    """A soft 404: a short page that says the notice does not exist or was deleted."""
    return len(text) < 3000 and bool(_GONE.search(f"{title}\n{text[:3000]}"))


@dataclass(frozen=True, slots=True)
class Reading:
    """A page's text Document, how its bytes were decoded, and what went wrong."""

    document: Document
    encoding: str
    source: str
    warnings: tuple[dict[str, object], ...] = ()
    metadata: dict[str, str] | None = None  # a file's name from its Content-Disposition
    notice: MetadataReader | None = None  # what the page's tree says (HTML pages only)


def document_of(page: Page, links: bool = False) -> tuple[Document, str, str]:
    """Bytes → text Document, with the encoding used and how it was chosen."""
    reading = read_page(page, links, notice=False)
    return reading.document, reading.encoding, reading.source


def read_page(page: Page, links: bool = False, notice: bool = True) -> Reading:
    """Bytes → text Document, by content type (HTML by default; JSON pretty-printed;
    files as their text where it can be read), with the warnings to keep on the
    capture (undecodable bytes, a file read in part or not at all); and with
    ``notice``, an HTML page's metadata as read from the tree of its text."""
    from watcher.analysis.decode import decode_html, warnings_of
    from watcher.analysis.extract import extract_with_report
    from watcher.analysis.metadata import MetadataReader

    mime = (page.content_type or "").split(";")[0].strip().lower()
    if _is_binary(mime, page.body):
        document, warnings, name = _binary_document(mime, page)
        return Reading(
            document, "binary", "header", warnings, {"file_name": name} if name else None
        )
    decoded = decode_html(page.body, page.content_type)
    warned = tuple(warnings_of(decoded))
    if mime.endswith("json"):
        return Reading(_json_document(decoded.text), decoded.encoding, decoded.source, warned)
    _within_element_budget(decoded.text, page)
    reader = MetadataReader() if notice else None
    document, warnings = extract_with_report(
        decoded.text,
        page.final_url,
        select=page.select,
        exclude=page.exclude,
        ignore=page.ignore,
        links=links,
        regex_timeout=page.regex_timeout,
        reader=reader,  # the whole page's tree: before select
    )
    if page.select and not document.text:
        whole, _ = extract_with_report(
            decoded.text, page.final_url, ignore=page.ignore, regex_timeout=page.regex_timeout
        )
        if looks_removed(whole.title, whole.text):  # "页面不存在": the page says so
            return Reading(whole, decoded.encoding, decoded.source, warned, notice=reader)
        raise ExtractionProblem("; ".join(warnings) or "select matched no text")
    return Reading(document, decoded.encoding, decoded.source, warned, notice=reader)


def _within_element_budget(html: str, page: Page) -> None:
    """Refuse, before parsing, a page whose tree would not fit its memory budget."""
    tags = count_elements(html, page.max_elements)
    if tags is not None and tags > page.max_elements:
        raise OverBudget(
            f"{page.final_url}: the page has {tags:,} tags, over its analysis budget of"
            f" {page.max_elements:,} (about 300 bytes of memory each; raise max_elements"
            " for this target)"
        )


_BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")
_TEXT_TYPES = ("text/", "application/xhtml", "application/xml", "application/json")


def _is_binary(mime: str, body: bytes) -> bool:
    """By magic bytes first (servers mislabel files), then by declared type."""
    if body.startswith(_BINARY_MAGIC):
        return True
    if not mime or mime.startswith(_TEXT_TYPES) or mime.endswith(("+xml", "+json")):
        return False
    return mime.startswith(("image/", "audio/", "video/", "application/"))


def _binary_document(
    mime: str, page: Page
) -> tuple[Document, tuple[dict[str, object], ...], str | None]:
    """A file: a first line naming its kind, then its text where watcher can read it
    (PDF, DOCX, XLSX).

    The compared text holds nothing that changes whenever any byte changes: size and
    SHA-256 are the capture's own facts (``raw_size``, ``raw_sha256``), so a
    two-character edit in a PDF is a two-character change. Only a file whose text
    cannot be read is compared by its bytes: its line names size and SHA-256, so
    a new version is still a change. What was left out, or why there is no text,
    is also a warning of the capture.
    """
    from watcher.analysis.attachments import extract_attachment_text
    from watcher.analysis.filelinks import file_name_of

    name = file_name_of(page.content_disposition)
    found = extract_attachment_text(
        page.body, mime or None, page.final_url, file_name=name, timeout=page.file_timeout
    )
    kind = found.kind if found.kind != "other" else mime or "binary file"
    if found.extracted and found.text:
        line = f"[{kind}]"
    else:
        line = f"[{kind}, {len(page.body):,} bytes, sha256 {sha256(page.body)}]"
    if found.note:
        line += f" ({found.note})"
    text = f"{line}\n{found.text}" if found.extracted and found.text else line
    warnings: tuple[dict[str, object], ...] = ()
    if found.note:
        what = "file-partly-read" if found.extracted else "file-not-read"
        warnings = ({"kind": what, "message": found.note, "file_kind": found.kind},)
    return Document(title="", text=text), warnings, name


def _json_document(text: str) -> Document:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ExtractionProblem(f"response is not valid JSON: {exc}") from exc
    pretty = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True)
    return Document(title="", text=pretty)
