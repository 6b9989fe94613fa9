"""HTML pages: rendered on the server, usable without JavaScript."""

from __future__ import annotations

import io
import math
import re
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from markupsafe import Markup, escape

from watcher.alerts.compose import METADATA_LABELS
from watcher.config import Config, Settings, Target, zone_label, zone_of
from watcher.core.models import SNIPPETS_PER_TERM, Hit, TermHits
from watcher.core.text import snippet
from watcher.diff.ops import diff_texts
from watcher.diff.render import line_marks, small_edits, to_html_inline, to_html_side_by_side
from watcher.export import warc
from watcher.export.citation import cite
from watcher.export.records import Citing
from watcher.keywords import KeywordMatcher, any_branch_in, find_hits
from watcher.store import inbox, space, views
from watcher.store.blobs import BlobError
from watcher.store.index import CaptureRow, StoreError
from watcher.store.search import QueryError, parse_query
from watcher.web import evidence
from watcher.web.context import WebContext, context_of
from watcher.web.downloads import download_of
from watcher.web.identity import current_user, require
from watcher.web.security import ARCHIVE_CSP, SESSION_COOKIE, Guard, safe_next, too_many_message

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
# the dashboard's rows a page: all 10,000 targets of a large config in one page were
# 5 MB of HTML and seconds to build (bench/service.py); sorting and filters see them all
DASHBOARD_ROWS = 200
# seconds between two reads of every dashboard row; in between, only the targets touched
# since are read again (see dashboard_rows)
ROWS_KEPT = 600.0
PICKER_CAPTURES = 200  # the newest captures the diff page's from / to pickers offer
SMALL_EDITS = 10  # small edits listed at the top of a diff
DIFF_BUDGET = 5.0  # seconds for a diff shown in the UI
SORTS = {
    "target": lambda r: r.name,
    "status": lambda r: r.status or "",
    "checked": lambda r: r.last_checked_ts,
    "changed": lambda r: r.last_change_ts,
    "hits": lambda r: r.hits_7d,
    "errors": lambda r: r.consecutive_errors,
}


def _guard(request: Request) -> Guard:
    return request.app.state.guard


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("title", "watcher")
    values["request"] = request
    values["csrf"] = _guard(request).csrf_token(request)
    user = current_user(request)
    values["user"] = user
    values["login"] = _guard(request).signed_in(request) is not None  # "Log out" shown
    values["can_check"] = context_of(request).check_now is not None and user.may("analyst")
    values["zone"] = zone_label(zone_of(_settings(context_of(request).config())))
    return request.app.state.templates.TemplateResponse(
        request, template, values, status_code=status_code
    )


def error_page(
    request: Request, status_code: int, message: str, link: tuple[str, str] | None = None
) -> HTMLResponse:
    """A readable page with the right status; ``link`` (href, words) is the way on."""
    return render(
        request,
        "error.html",
        status_code,
        title="watcher: error",
        message=message,
        link=link,
        code=status_code,
    )


def config_to_edit(request: Request, purpose: str) -> tuple[Path, Config] | HTMLResponse:
    """The config file and what it says, for an admin's change to it; else the page
    saying there is none (a service started without a readable ``targets.yaml``)."""
    context = context_of(request)
    config = context.config()
    if context.config_path is None or config is None:
        return error_page(request, 409, f"this service has no readable config file to {purpose}")
    return context.config_path, config


def _settings(config: Config | None) -> Settings | None:
    return config.settings if config is not None else None


def citing(request: Request) -> Citing:
    """How exports and citations cite a capture: permalinks under ``settings.base_url``
    (else the address asked), times in ``settings.timezone``."""
    config = context_of(request).config()
    settings = _settings(config)
    base = settings.base_url if settings and settings.base_url else str(request.base_url)
    return Citing(base.rstrip("/"), zone_of(settings))


def _now(request: Request) -> datetime:
    """The app's clock (injected in tests)."""
    return request.app.state.clock.now()


def _titles(context: WebContext, names: list[str]) -> dict[str, str]:
    """Display titles of targets (see ``views.display_titles``)."""
    return views.display_titles(context.store, names, _configured_titles(context.config()))


def _configured_titles(config: Config | None) -> dict[str, str]:
    return _by_name(config)[1]


# the last config, and its targets and titles by name
_NAMED: tuple[Any, dict[str, Target], dict[str, str]] = (None, {}, {})


def _by_name(config: Config | None) -> tuple[dict[str, Target], dict[str, str]]:
    """The config's targets and titles by name, made once per config: 10,000 targets
    were two dictionaries built at every dashboard request."""
    global _NAMED
    if config is None:
        return {}, {}
    named = _NAMED  # one read: another thread may put the next config's in its place
    if named[0] is not config:
        targets = {t.name: t for t in config.targets}
        named = _NAMED = (config, targets, {n: t.title for n, t in targets.items()})
    return named[1], named[2]


_CAUSES = [
    (
        re.compile(r"connection refused|connect call failed|errno 111", re.I),
        "connection refused by {host}",
    ),
    (
        re.compile(r"name or service not known|nodename nor servname|getaddrinfo", re.I),
        "the host name {hostname} is not known",
    ),
    (re.compile(r"connect timeout", re.I), "{host} did not answer the connection in time"),
    (re.compile(r"read timeout", re.I), "{host} accepted the connection but sent no page in time"),
    (re.compile(r"certificate|ssl", re.I), "the TLS certificate of {hostname} was refused"),
    (re.compile(r"^HTTP (\d{3}) ?(.*)$"), "the server answered HTTP {0} {1}"),
]


def plain_cause(error: str | None, url: str) -> str:
    """A check's error in plain words, naming the host where it helps."""
    if not error:
        return "unknown error"
    parts = urlsplit(url)
    hostname = parts.hostname or url
    try:
        port = parts.port
    except ValueError:
        port = None
    host = f"{hostname}:{port}" if port else hostname
    said = error.split(" → ", 1)[-1].strip()  # the URL is said apart
    for pattern, words in _CAUSES:
        found = pattern.search(said)
        if found:
            return words.format(*found.groups(), host=host, hostname=hostname).strip()
    return said


def next_try(target: Target | None, last_checked: datetime | None) -> datetime | None:
    """When the schedule checks the target again (an interval's; a cron's is not
    worked out here)."""
    if target is None or last_checked is None or not target.interval:
        return None
    return last_checked + timedelta(seconds=target.interval)


def status_words(
    run: views.FailingRun | None,
    error: str | None,
    url: str,
    target: Target | None,
    last_checked: datetime | None,
    zone: ZoneInfo | None = None,
) -> str | None:
    """A failing target's state in plain words: "never succeeded: connection refused
    by 127.0.0.1:1234 — next try 18:35 Beijing time" or "failing since … (3 checks):
    …"; times in ``zone`` (default: UTC), named."""
    if run is None:
        return None
    shown = zone or ZoneInfo("UTC")
    name = zone_label(shown)
    cause = plain_cause(error, url)
    checks = f"{run.checks} check{'s' if run.checks != 1 else ''}"
    if run.ever_succeeded:
        since = run.since.astimezone(shown)
        head = f"failing since {since:%Y-%m-%d %H:%M} {name} ({checks}): {cause}"
    else:
        head = f"never succeeded ({checks}): {cause}"
    due = next_try(target, last_checked)
    return head + (f" — next try {due.astimezone(shown):%H:%M} {name}" if due else "")


@dataclass
class DashboardRow:
    name: str
    title: str
    url: str
    tags: tuple[str, ...]
    groups: tuple[str, ...]
    status: str | None
    last_checked_at: Any
    last_change_at: Any
    last_error: str | None
    consecutive_errors: int
    hits_7d: int
    groups_7d: tuple[str, ...]
    captures: int | None  # None: not counted
    configured: bool
    documents: str = ""  # a listing: what its last check did, "2 new, 1 removed"
    trouble: str | None = None  # a failing target's state in plain words

    # sort keys, worked out once: 10,000 rows are sorted at every request
    last_checked_ts: float = field(init=False)
    last_change_ts: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_checked_ts = self.last_checked_at.timestamp() if self.last_checked_at else 0.0
        self.last_change_ts = self.last_change_at.timestamp() if self.last_change_at else 0.0


@dataclass
class KeptRows:
    """The dashboard's rows as last read, and what they were read at."""

    version: views.RowsVersion
    config: int  # id() of the config they were built with
    minute: int  # the minute their 7 days of hits were counted in
    built: float  # monotonic time of the last read of every row
    rows: dict[str, DashboardRow]


def dashboard_rows(context: WebContext, *, counted: bool = False) -> list[DashboardRow]:
    """Targets of the config, plus any the store knows that the config no longer has;
    with ``counted``, their captures (the API's field; the page does not show it).

    Kept between requests, and brought up to date by reading again only the targets
    touched since (checked, registered, or a listing whose documents moved: see
    ``views.touched``); the 7 days of hits are counted again each minute. 10,000 rows
    took 400 ms of CPU to build, so a dashboard asked while a cycle writes checks
    built them anew on every request. Everything is read again when the config
    changes, and every ROWS_KEPT seconds.
    """
    config = context.config()
    with context.rows_lock:
        version = views.rows_version(context.store)
        now, minute = time.monotonic(), int(time.time() // 60)
        kept = context.rows_kept.get(counted)
        ids = None
        fresh = kept is not None and kept.config == id(config) and now - kept.built < ROWS_KEPT
        if fresh and kept.version != version:
            ids = views.touched(context.store, kept.version)  # None: too many, read all
            fresh = ids is not None
        if not fresh:
            rows = _dashboard_rows(context, config, counted)
            kept = KeptRows(version, id(config), minute, now, {r.name: r for r in rows})
            context.rows_kept[counted] = kept
            return rows
        if ids is not None:
            for row in _dashboard_rows(context, config, counted, ids):
                kept.rows[row.name] = row
            kept.version = version
        if kept.minute != minute:
            _recount_hits(context, kept)
            kept.minute = minute
        return list(kept.rows.values())


def _recount_hits(context: WebContext, kept: KeptRows) -> None:
    """Hits of the last 7 days as they are this minute (older ones drop out)."""
    recent = views.recent_hits(context.store, datetime.fromtimestamp(time.time(), UTC))
    for name, row in kept.rows.items():
        n, groups = recent.get(name, (0, ()))
        if (row.hits_7d, row.groups_7d) != (n, groups):
            kept.rows[name] = replace(row, hits_7d=n, groups_7d=groups)


def _dashboard_rows(
    context: WebContext, config: Config | None, counted: bool, ids: set[int] | None = None
) -> list[DashboardRow]:
    """Every target's row, or (``ids``) those of the store's targets with these ids."""
    if ids is not None and not ids:
        return []
    now = datetime.fromtimestamp(time.time(), UTC)
    summaries = views.summaries(context.store, now, counted=counted, ids=ids)
    fates = views.last_fates(context.store, ids)
    runs = views.failing_runs(context.store, ids)
    rows = []
    configured, configured_titles = _by_name(config)  # the config read once, by the caller
    names = list(dict.fromkeys([*configured, *summaries])) if ids is None else list(summaries)
    titles = views.display_titles(context.store, names, configured_titles)
    zone = zone_of(_settings(config))
    for name in names:
        s = summaries.get(name)
        t = configured.get(name)
        url = t.url if t else (s.url if s else "")
        run = runs.get(name)
        rows.append(
            DashboardRow(
                name=name,
                title=titles[name],
                url=t.url if t else (s.url if s else ""),
                tags=tuple(t.tags) if t else (),
                groups=tuple(t.keywords) if t else (),
                status=s.last_status if s else None,
                last_checked_at=s.last_checked_at if s else None,
                last_change_at=s.last_change_at if s else None,
                last_error=s.last_error if s else None,
                consecutive_errors=s.consecutive_errors if s else 0,
                hits_7d=s.hits_7d if s else 0,
                groups_7d=s.groups_7d if s else (),
                captures=s.captures if s else 0,
                configured=t is not None,
                documents=fates.get(name, ""),
                trouble=status_words(
                    run,
                    s.last_error if s else None,
                    url,
                    t,
                    s.last_checked_at if s else None,
                    zone,
                )
                if run
                else None,
            )
        )
    return rows


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    sort: str | None = None,
    order: str = "desc",
    tag: str | None = None,
    group: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    context = context_of(request)
    rows = dashboard_rows(context)
    all_tags = sorted({t for r in rows for t in r.tags})
    all_groups = sorted(
        {g for r in rows for g in r.groups} | {g for r in rows for g in r.groups_7d}
    )
    if tag:
        rows = [r for r in rows if tag in r.tags]
    if group:
        rows = [r for r in rows if group in r.groups or group in r.groups_7d]
    if sort in SORTS:
        rows.sort(key=SORTS[sort], reverse=order != "asc")
    else:  # fresh hits first, then the most recently changed
        rows.sort(key=lambda r: (r.hits_7d > 0, r.last_change_ts, r.hits_7d), reverse=True)
    pages = max(1, math.ceil(len(rows) / DASHBOARD_ROWS))
    page = min(max(page, 1), pages)
    kept = {"sort": sort, "order": order if sort else None, "tag": tag, "group": group}
    shown = rows[(page - 1) * DASHBOARD_ROWS : page * DASHBOARD_ROWS]
    user = current_user(request).name
    return render(
        request,
        "dashboard.html",
        title="watcher",
        rows=shown,
        total=len(rows),
        first=(page - 1) * DASHBOARD_ROWS + 1,
        page=page,
        pages=pages,
        query=urlencode({k: v for k, v in kept.items() if v}),
        sort=sort,
        order=order,
        tag=tag,
        group=group,
        all_tags=all_tags,
        all_groups=all_groups,
        inbox_unread=inbox.unread_count(context.store, user),
        inbox_by_target=inbox.unread_by_target(context.store, user, [r.name for r in shown]),
    )


@router.get("/t/{name}", response_class=HTMLResponse)
def target_page(request: Request, name: str, page: int = 1) -> HTMLResponse:
    context = context_of(request)
    page = max(page, 1)
    captures, total = views.timeline(context.store, name, page, PER_PAGE)
    config = context.config()
    target = next((t for t in config.targets if t.name == name), None) if config else None
    if not total and target is None:
        return error_page(request, 404, f"no target named {name!r}")
    pages = max(1, math.ceil(total / PER_PAGE))
    if page > pages:
        return error_page(
            request,
            404,
            f"page {page} is past the end: {total} capture{'s' if total != 1 else ''}, "
            f"{pages} page{'s' if pages != 1 else ''}",
            (f"/t/{quote(name)}?page={pages}", f"the last page ({pages})"),
        )
    checks = context.store.checks_of(name, 10)
    listed = views.listed_documents(context.store, name) if target and target.follow else []
    document = None if target else views.document_of(context.store, name)
    learned = views.fetch_learned(context.store, name)
    heading = views.display_title(context.store, name, _configured_titles(config))
    row = context.store.target_row(name)
    trouble = None
    if row is not None and row.consecutive_errors:
        trouble = status_words(
            views.failing_runs(context.store).get(name),
            row.last_error,
            target.url if target else row.url,
            target,
            row.last_checked_at,
            zone_of(_settings(config)),
        )
    return render(
        request,
        "target.html",
        title=f"{heading} — watcher",
        name=name,
        heading=heading,
        document=document,
        listed=views.nested(listed),
        listed_count=len(listed),
        learned=learned,
        now_utc=_now(request),
        target=target,
        captures=captures,
        page=page,
        pages=pages,
        total=total,
        checks=checks,
        trouble=trouble,
    )


@router.post("/t/{name}/check")
async def check_now(request: Request, name: str, csrf: str = Form("")) -> Response:
    context = context_of(request)
    if not _guard(request).csrf_ok(request, csrf or request.headers.get("x-csrf-token")):
        return error_page(
            request, 403, "missing or wrong CSRF token; reload the page and try again"
        )
    user = require(request, "analyst")
    if context.check_now is None:
        return error_page(request, 503, "checks run only in `watcher run`, not in `watcher serve`")
    document = views.document_of(context.store, name)
    if document is not None:  # checked with its listing, on the listing's schedule
        listing = document[1]
        return error_page(
            request,
            404,
            f"{document[0].title or name} is a document of {listing}: it is checked with "
            "its listing, which has a Check now of its own",
            (f"/t/{quote(listing)}", f"the listing {listing}"),
        )
    started = await context.check_now(name)
    if not started:
        return error_page(request, 404, f"no target named {name!r} in the config")
    _guard(request).record(user, "check now", name)
    return RedirectResponse(f"/t/{quote(name)}?checking=1", status_code=303)


@router.get("/t/{name}/diff", response_class=HTMLResponse)
def diff_page(request: Request, name: str, view: str = "inline", lines: int = 3) -> HTMLResponse:
    """Two captures of a target (``from``, ``to``; default the last two), changes and
    keyword hits marked; ``lines`` of unchanged context around each change."""
    context = context_of(request)
    params = request.query_params
    try:
        old, new = views.capture_pair(context.store, name, params.get("from"), params.get("to"))
    except (StoreError, LookupError) as exc:
        return error_page(request, 404, str(exc))
    try:
        old_text = _text(context, old)
        new_text = _text(context, new)
    except DamagedEvidence as exc:
        return error_page(request, evidence.DAMAGED_STATUS, str(exc))
    diff = diff_texts(old_text, new_text, timeout=DIFF_BUDGET)
    config = context.config()
    groups: dict[str, list[str]] = {}
    if config:
        target = next((t for t in config.targets if t.name == name), None)
        wanted = set(target.keywords) if target else set(config.keywords)
        groups = {g: terms for g, terms in config.keywords.items() if g in wanted}
    found = _pair_hits(groups, old_text, new_text, diff) if groups else []
    marks = {
        "new": line_marks(new_text, _spans(found, "added")),
        "old": line_marks(old_text, _spans(found, "removed")),
    }
    context_lines = min(max(lines, 0), 50)
    body = (
        to_html_side_by_side(diff, context_lines, marks)
        if view == "side"
        else to_html_inline(diff, context_lines, marks)
    )
    changes = body.count('id="change-')
    edits, edit_count = small_edits(diff, SMALL_EDITS)
    choices = context.store.history(name, PICKER_CAPTURES)
    for chosen in (old, new):  # an older capture named in the URL stays choosable
        if all(c.id != chosen.id for c in choices):
            choices.append(chosen)
    original = new.final_url or new.url
    return render(
        request,
        "diff.html",
        edits=edits,
        edit_count=edit_count,
        choices=choices,
        original=original if original.startswith(("http://", "https://")) else None,
        title=f"{views.display_title(context.store, name, _configured_titles(config))}: diff"
        " — watcher",
        name=name,
        old=old,
        new=new,
        diff=diff,
        body=body,
        view="side" if view == "side" else "inline",
        changes=changes,
        hits=found,
        context_lines=context_lines,
    )


def _pair_hits(
    groups: dict[str, list[str]], old: str | None, new: str, diff: Any
) -> list[TermHits]:
    """Hits of any two captures, computed for the pair (stored hits are per capture)."""
    return find_hits(KeywordMatcher(groups), old, new, diff)


def _spans(found: list[TermHits], where: str) -> list[tuple[int, int, str]]:
    """Every occurrence to mark, whatever the count (the list above shows a few)."""
    return [
        (start, start + length, h.group)
        for h in found
        if h.where == where
        for start, length in h.occurrences()
    ]


def _per_term(hits: list[Hit]) -> list[TermHits]:
    """A capture's stored hits as the page lists them: a term and direction per
    line, its count and first snippets (a first capture names a term hundreds of
    times)."""
    grouped: dict[tuple[str, str, str], list[Hit]] = {}
    for hit in hits:
        grouped.setdefault((hit.group, hit.term, hit.where), []).append(hit)
    return [
        TermHits(
            group,
            term,
            same[0].where,
            tuple(n for h in same for n in (h.position, h.length)),
            tuple(h.snippet for h in same[:SNIPPETS_PER_TERM]),
        )
        for (group, term, _), same in grouped.items()
    ]


class DamagedEvidence(Exception):
    """A capture's text cannot be shown; the message is ``evidence.notice``'s."""


def _text(context: WebContext, capture: CaptureRow) -> str:
    try:
        return context.store.text(capture)
    except BlobError as exc:
        raise DamagedEvidence(evidence.notice(capture, "text", exc)) from None


@router.get("/c/{capture_id}", response_class=HTMLResponse)
def capture_page(request: Request, capture_id: str) -> HTMLResponse:
    """The capture's facts and text; a damaged text or raw body is said in their place
    (both are checked here: the archived page and the download link are evidence too)."""
    context = context_of(request)
    capture = context.store.capture(capture_id)
    damage: list[str] = []
    text = None
    try:
        text = _text(context, capture)
    except DamagedEvidence as exc:
        damage.append(str(exc))
    raw_sound = True
    try:
        context.store.raw(capture)
    except BlobError as exc:
        damage.append(evidence.notice(capture, "raw bytes", exc))
        raw_sound = False
    shot_sound = capture.screenshot_sha256 is not None
    if capture.screenshot_sha256:
        try:
            context.store.blobs.get(capture.screenshot_sha256)
        except BlobError as exc:
            damage.append(evidence.notice(capture, "screenshot", exc))
            shot_sound = False
    hits = _per_term(context.store.hits_of(capture.id)) if capture.hit_count else []
    citation = cite(capture, citing(request))
    return render(
        request,
        "capture.html",
        title=f"{capture.target}: capture {capture.id} — watcher",
        capture=capture,
        text=text,
        damage=damage,
        raw_sound=raw_sound,
        shot_sound=shot_sound,
        hits=hits,
        citation=citation,
        is_html="html" in (capture.content_type or "text/html"),
        metadata_rows=[
            (label, capture.metadata[key])
            for key, label in METADATA_LABELS.items()
            if capture.metadata and capture.metadata.get(key)
        ],
    )


@router.get("/c/{capture_id}/raw")
def capture_raw(request: Request, capture_id: str) -> Response:
    """The archived original, for the sandboxed iframe: never runs in our origin."""
    context = context_of(request)
    capture = context.store.capture(capture_id)
    try:
        body = context.store.raw(capture)
    except BlobError as exc:
        return evidence.damaged_response(capture, "raw bytes", exc)
    media = (capture.content_type or "text/html").split(";")[0].strip().lower()
    if media not in ("text/html", "application/xhtml+xml", "text/plain"):
        media = "text/plain"
    charset = capture.encoding if capture.encoding and capture.encoding != "binary" else "utf-8"
    return Response(
        body,
        media_type=f"{media}; charset={charset}",
        headers={"Content-Security-Policy": ARCHIVE_CSP, "Cache-Control": "private, max-age=3600"},
    )


@router.get("/c/{capture_id}/screenshot.png")
def capture_screenshot(request: Request, capture_id: str) -> Response:
    """A browser fetch's full-page screenshot (a PNG watcher made itself)."""
    context = context_of(request)
    capture = context.store.capture(capture_id)
    if not capture.screenshot_sha256:
        return error_page(request, 404, "this capture has no screenshot (it was not rendered)")
    try:
        png = context.store.blobs.get(capture.screenshot_sha256)
    except BlobError as exc:
        return evidence.damaged_response(capture, "screenshot", exc)
    return Response(
        png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
    )


@router.get("/c/{capture_id}/download")
def capture_download(request: Request, capture_id: str) -> Response:
    """The raw bytes as a file of their own type and name (a PDF as ``….pdf``)."""
    context = context_of(request)
    capture = context.store.capture(capture_id)
    try:
        body = context.store.raw(capture)
    except BlobError as exc:
        return evidence.damaged_response(capture, "raw bytes", exc)
    download = download_of(capture, body)
    return Response(
        body,
        headers={
            "Content-Type": evidence.header_value(download.media_type),
            "Content-Disposition": evidence.attachment(download.filename),
            "Content-Security-Policy": ARCHIVE_CSP,
            # a server's header, in its bytes: may hold UTF-8, which HTTP cannot carry
            "X-Original-Content-Type": evidence.header_value(capture.content_type or ""),
        },
    )


@router.get("/c/{capture_id}/warc")
def capture_warc(request: Request, capture_id: str) -> Response:
    """The capture alone as a WARC 1.1 file (``watcher export`` writes many)."""
    context = context_of(request)
    capture = context.store.capture(capture_id)
    out = io.BytesIO()
    try:
        warc.export_captures(context.store, [capture], out, gzip=True)
    except warc.ExportError as exc:
        return PlainTextResponse(
            f"{exc}\n", status_code=evidence.DAMAGED_STATUS, headers={"Cache-Control": "no-store"}
        )
    return Response(
        out.getvalue(),
        media_type="application/warc",
        headers={
            "Content-Disposition": evidence.attachment(f"{capture.target}-{capture.id}.warc.gz"),
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/hits", response_class=HTMLResponse)
def hits_page(
    request: Request, group: str | None = None, target: str | None = None, page: int = 1
) -> HTMLResponse:
    context = context_of(request)
    page = max(page, 1)
    rows = views.hit_rows(context.store, group, target, PER_PAGE + 1, (page - 1) * PER_PAGE)
    config = context.config()
    groups = sorted(config.keywords) if config else []
    names = context.store.target_names()
    titles = _titles(context, [*names, *(r.target for r in rows)])
    rows = rows[:PER_PAGE]
    return render(
        request,
        "hits.html",
        title="Keyword hits — watcher",
        titles=titles,
        target_options=sorted((titles[n], n) for n in names),
        rows=rows,
        snippets=_hit_snippets(context, rows),
        more=len(rows) > PER_PAGE,
        page=page,
        group=group,
        target=target,
        groups=groups,
        targets=context.store.target_names(),
        export_query=urlencode({k: v for k, v in (("group", group), ("target", target)) if v}),
    )


def _hit_snippets(context: WebContext, rows: list[views.HitRow]) -> list[Markup | None]:
    """Each hit's first occurrence with the text around it, the term marked: cut from
    the stored text (the previous capture's for a removed term), read once per page."""
    texts: dict[str, str | None] = {}
    out: list[Markup | None] = []
    for row in rows:
        capture_id = row.previous_id if row.where == "removed" else row.capture_id
        first = row.spans.split(",")[0].split(":") if row.spans else []
        if not capture_id or len(first) != 2 or not all(p.isdigit() for p in first):
            out.append(None)
            continue
        if capture_id not in texts:
            try:
                texts[capture_id] = _text(context, context.store.capture(capture_id))
            except (DamagedEvidence, StoreError, LookupError):
                texts[capture_id] = None
        text = texts[capture_id]
        start, length = int(first[0]), int(first[1])
        if text is None or start + length > len(text):
            out.append(None)
            continue
        out.append(_marked(snippet(text, start, start + length), [row.term]))
    return out


def _marked(text: str, terms: list[str] | tuple[str, ...]) -> Markup:
    """``text`` escaped, with every occurrence of the terms (matched as keywords are:
    case, width, traditional forms) in ``<mark>``."""
    spans = sorted(
        (o.start, o.end)
        for o in KeywordMatcher({str(i): [t] for i, t in enumerate(terms)}).occurrences(text)
    )
    out, at = [], 0
    for start, end in spans:
        if start < at:
            continue
        out.append(escape(text[at:start]))
        out.append(Markup("<mark>%s</mark>") % text[start:end])
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


SEARCH_KINDS = {"pages": "page", "documents": "document", "attachments": "attachment"}


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = "",
    page: int = 1,
    target: str = "",
    kind: str = "",
    since: str = "",
    until: str = "",
) -> HTMLResponse:
    """One result per page or document, its terms marked; narrowed by target, kind and
    days (``since``, ``until``: inclusive, UTC); says how the query was read."""
    context = context_of(request)
    page = max(page, 1)
    results: list[views.SearchResult] = []
    marked: list[list[Markup]] = []
    more = False
    problem = None
    query = None
    first, last = _day(since), _day(until)
    narrow = views.SearchFilter(
        target=target or None,
        kind=SEARCH_KINDS.get(kind),
        since=datetime.combine(first, datetime.min.time(), UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
        if last
        else None,
    )
    if q.strip():
        try:
            query = parse_query(q)
            results, more = views.search(
                context.store,
                query,
                any_branch_in([b.terms for b in query.branches]),
                20,
                (page - 1) * 20,
                narrow=narrow,
            )
            marked = [[_marked(s, query.terms) for s in r.snippets] for r in results]
        except QueryError as exc:
            problem = str(exc)
    titles = _titles(context, [r.capture.target for r in results])
    results = [  # an attachment's capture has no page title: its notice's words stand in
        r
        if r.capture.title
        else replace(r, capture=replace(r.capture, title=titles[r.capture.target]))
        for r in results
    ]
    waiting = views.unindexed_count(context.store) if q.strip() else 0
    filters = {"target": target, "kind": kind, "since": since, "until": until}
    return render(
        request,
        "search.html",
        titles=titles,
        waiting=waiting,
        title=f"{q} — search — watcher" if q else "Search — watcher",
        q=q,
        query=query,
        results=list(zip(results, marked, strict=True)),
        more=more,
        page=page,
        problem=problem,
        filters=filters,
        narrowed=any(filters.values()),
        paging=urlencode({k: v for k, v in filters.items() if v}),
        targets=context.store.target_names(),
        kinds=list(SEARCH_KINDS),
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, 200, next)


def _login_page(
    request: Request, status: int, next: str, failed: bool = False, wait: int = 0, name: str = ""
) -> HTMLResponse:
    """The form: a user name field unless only the shortcut's password is asked for."""
    guard = _guard(request)
    settings = context_of(request).config()
    oidc = settings.settings.oidc if settings is not None else None
    return render(
        request,
        "login.html",
        status,
        title="Log in — watcher",
        next=safe_next(next),
        failed=failed,
        wait=too_many_message(wait) if wait else None,
        ask_name=guard.password is None or guard.has_accounts(),
        name=name,
        oidc=oidc.issuer if oidc is not None else None,
    )


@router.post("/login")
def login(
    request: Request,
    password: str = Form(""),
    user: str = Form(""),
    next: str = Form("/"),
    csrf: str = Form(""),
) -> Response:
    guard = _guard(request)
    guard.require_csrf(request, csrf)
    if not guard.sign_in_configured():
        return RedirectResponse(safe_next(next), status_code=303)
    attempt = guard.log_in(request, password, user.strip())
    if attempt.session is None:
        status, wait = (429, attempt.retry_after) if attempt.retry_after else (401, 0)
        page = _login_page(request, status, next, failed=not wait, wait=wait, name=user)
        if wait:
            page.headers["Retry-After"] = str(wait)
        return page
    response = RedirectResponse(safe_next(next), status_code=303)
    guard.set_session_cookie(response, request, attempt.session)
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("")) -> Response:
    guard = _guard(request)
    guard.require_csrf(request, csrf)
    guard.log_out(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/healthz")
def healthz(request: Request) -> PlainTextResponse:
    """200 when the store answers, its disk has room and (in the service) checks make
    progress; 503 with the reasons, one a line, otherwise."""
    context = context_of(request)
    try:
        context.store.target_names()
    except Exception as exc:
        return PlainTextResponse(f"store unreadable: {exc}\n", status_code=503)
    problems = [p for p in [space.low_space(context.data)] if p]
    if context.health is not None:
        problems.extend(context.health())
    if problems:
        return PlainTextResponse("".join(f"{p}\n" for p in problems), status_code=503)
    return PlainTextResponse("ok\n")


@router.get("/metrics")
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format, computed from the store at each scrape."""
    store = context_of(request).store
    stats = views.check_stats(store)
    backlog = store.outbox.counts()
    lines = [
        "# HELP watcher_checks_total Checks done, by outcome.",
        "# TYPE watcher_checks_total counter",
        *(f'watcher_checks_total{{status="{s}"}} {n}' for s, n in sorted(stats.by_status.items())),
        "# HELP watcher_check_failures_total Checks that failed.",
        "# TYPE watcher_check_failures_total counter",
        f"watcher_check_failures_total {stats.by_status.get('error', 0)}",
        "# HELP watcher_check_duration_seconds How long checks took.",
        "# TYPE watcher_check_duration_seconds histogram",
        *(f'watcher_check_duration_seconds_bucket{{le="{b}"}} {n}' for b, n in stats.histogram),
        f'watcher_check_duration_seconds_bucket{{le="+Inf"}} {stats.count}',
        f"watcher_check_duration_seconds_sum {stats.total_seconds:.3f}",
        f"watcher_check_duration_seconds_count {stats.count}",
        "# HELP watcher_outbox_messages Alerts in the outbox, by status.",
        "# TYPE watcher_outbox_messages gauge",
        *(
            f'watcher_outbox_messages{{status="{s}"}} {backlog.get(s, 0)}'
            for s in ("pending", "failed", "unconfirmed", "sent")
        ),
        "# HELP watcher_outbox_backlog Alerts waiting to be sent.",
        "# TYPE watcher_outbox_backlog gauge",
        f"watcher_outbox_backlog {backlog.get('pending', 0)}",
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
