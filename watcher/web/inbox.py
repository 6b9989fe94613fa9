"""The inbox: every event in one stream, each user's unread state, shared triage.

Reading is for everyone (a viewer's read marks are their own); a state, an
assignment or a note needs the analyst role. Filters are URL parameters, so a
filtered view can be bookmarked or sent; every action is a plain form POST, and
the keys (j/k, r/i/x, o) drive the same forms from ``static/app.js``. Every triage
action is also kept in the audit (``/audit``), subject ``inbox item N``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from watcher.config import Config
from watcher.core.clock import Clock
from watcher.store import inbox
from watcher.store.inbox import EventRow, Filter, InboxWriter
from watcher.store.index import StoreError
from watcher.web import noise
from watcher.web.context import context_of
from watcher.web.identity import User, current_user, require
from watcher.web.pages import error_page, render
from watcher.web.security import Guard, safe_next

router = APIRouter(include_in_schema=False)
router.include_router(noise.router)

log = logging.getLogger(__name__)

PER_PAGE = 50
KIND_LABELS = {
    "changed": "page changed",
    "cited": "cited by a new notice",
    "new": "first capture",
    "document": "new notice",
    "edited": "notice edited",
    "suspected": "suspected removal",
    "removed": "removed",
    "delisted": "delisted",
    "restored": "restored",
    "blocked": "blocked",
    "broken": "broken link",
    "failing": "failing",
    "recovered": "recovered",
}
BULK_ACTIONS = ("read", "unread", *inbox.STATES, "clear", "assign")


def _writer(request: Request) -> InboxWriter:
    return request.app.state.inbox_writer


def _clock(request: Request) -> Clock:
    return request.app.state.clock


def _checked(request: Request, csrf: str) -> None:
    guard: Guard = request.app.state.guard
    guard.require_csrf(request, csrf)


def people(request: Request) -> list[str]:
    """Whom items can be assigned to: the accounts; without any, the names seen in
    the inbox (its readers and actors)."""
    accounts = request.app.state.guard.accounts.all()
    names = [a.name for a in accounts if not a.disabled]
    return names or sorted({*inbox.people(context_of(request).store), current_user(request).name})


def subject(item_id: int) -> str:
    """An item as the audit names it."""
    return f"inbox item {item_id}"


def _audit(request: Request, user: User, action: str, ids: list[int], detail: str) -> None:
    guard: Guard = request.app.state.guard
    done = [(subject(i), detail) for i in ids]
    try:
        guard.accounts.record_actions(user.name, action, done, _clock(request).now())
    except StoreError as exc:  # the triage itself is kept; the audit says why not here
        log.warning("triage not audited (%s by %s): %s", action, user.name, exc)


def event_link(event: EventRow | None) -> str | None:
    """Where an event is seen: the diff of a change, the capture of a new page or
    the evidence of a removal, else the target."""
    if event is None:
        return None
    target = quote(event.target, safe="")
    if event.capture_id and event.previous_id:
        return f"/t/{target}/diff?from={event.previous_id}&to={event.capture_id}"
    if event.capture_id:
        return f"/c/{event.capture_id}"
    return f"/t/{target}"


@dataclass(frozen=True, slots=True)
class Params:
    """The inbox's URL parameters, as given (for the form and the links)."""

    view: str = "unread"
    target: str = ""
    tag: str = ""
    group: str = ""
    state: str = ""
    assignee: str = ""
    since: str = ""
    until: str = ""

    def query(self, **changes: str) -> str:
        values = {**{k: getattr(self, k) for k in self.__slots__}, **changes}
        return urlencode({k: v for k, v in values.items() if v and (k != "view" or v != "unread")})


def _date(value: str, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


def _filter(request: Request, params: Params) -> Filter:
    names: set[str] | None = None
    if params.target:
        names = {params.target}
    if params.tag:
        config = context_of(request).config()
        tagged = {t.name for t in config.targets if params.tag in t.tags} if config else set()
        names = tagged if names is None else names & tagged
    user = current_user(request).name
    return Filter(
        view="all" if params.view == "all" else "unread",
        targets=tuple(sorted(names)) if names is not None else None,
        group=params.group or None,
        state=params.state or None,
        assignee=user if params.assignee == "me" else (params.assignee or None),
        since=_date(params.since),
        until=_date(params.until, end=True),
    )


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request, params: Annotated[Params, Depends()], page: int = 1
) -> HTMLResponse:
    context = context_of(request)
    user = current_user(request)
    page = max(page, 1)
    rows, more = inbox.items(
        context.store, user.name, _filter(request, params), page=page, per_page=PER_PAGE
    )
    last_visit = inbox.last_visit(context.store, user.name)
    _writer(request).visit(user.name, _clock(request).now())
    config = context.config()
    titles = {t.name: t.title for t in config.targets} if config else {}
    return render(
        request,
        "inbox.html",
        title="Inbox — watcher",
        user=user,
        rows=rows,
        more=more,
        page=page,
        params=params,
        unread=inbox.unread_count(context.store, user.name),
        last_visit=last_visit,
        titles=titles,
        labels=KIND_LABELS,
        link=event_link,
        states=inbox.STATES,
        all_tags=sorted({t for c in (config.targets if config else []) for t in c.tags}),
        all_groups=sorted({g for c in (config.targets if config else []) for g in c.keywords}),
        people=people(request),
        rule_able=_rule_able(config),
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    )


def _rule_able(config: Config | None) -> frozenset[str]:
    """Targets a noise item can get a rule for (those in the config)."""
    return frozenset(t.name for t in config.targets) if config else frozenset()


@router.get("/inbox/open")
def open_alert(request: Request, target: str, kind: str, capture: str = "") -> Response:
    """An alert's link: its inbox item, or the target's items if the event is not
    (yet) one."""
    found = inbox.item_for_alert(context_of(request).store, target, kind, capture or None)
    if found is None:
        return RedirectResponse("/inbox?" + urlencode({"view": "all", "target": target}), 303)
    return RedirectResponse(f"/inbox/{found}", status_code=303)


@router.get("/inbox/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: int) -> HTMLResponse:
    context = context_of(request)
    user = current_user(request)
    detail = inbox.item(context.store, user.name, item_id)
    if detail is None:
        return error_page(request, 404, f"no inbox item {item_id}")
    _writer(request).mark(user.name, [item_id], True, _clock(request).now())
    config = context.config()
    rules = noise.rules_for(request, detail) if detail.item.state == "noise" else None
    return render(
        request,
        "inbox_item.html",
        title=f"{detail.item.title} — inbox — watcher",
        user=user,
        detail=detail,
        targets=len({e.target for e in detail.events}),
        titles={t.name: t.title for t in config.targets} if config else {},
        labels=KIND_LABELS,
        link=event_link,
        states=inbox.STATES,
        people=people(request),
        noise=rules,
        added=request.query_params.get("added", ""),
        audit_link="/audit?" + urlencode({"subject": subject(item_id)}),
    )


@router.post("/inbox/bulk")
def bulk(
    request: Request,
    ids: Annotated[list[int], Form(default_factory=list)],  # FastAPI 0.110: not `| None`
    action: str = Form(""),
    assignee: str = Form(""),
    next: str = Form("/inbox"),
    csrf: str = Form(""),
) -> Response:
    """One action on the selected items (the list's checkboxes, or one key press)."""
    _checked(request, csrf)
    if action not in BULK_ACTIONS:
        raise HTTPException(400, f"no action {action!r}; one of {', '.join(BULK_ACTIONS)}")
    _apply(request, ids, action, assignee)
    return RedirectResponse(safe_next(next), status_code=303)


def _apply(request: Request, ids: list[int], action: str, assignee: str) -> None:
    writer, now = _writer(request), _clock(request).now()
    if action in ("read", "unread"):
        writer.mark(current_user(request).name, ids, action == "read", now)
        return
    user = require(request, "analyst")
    if not ids:
        return
    if action == "assign":
        name = assignee.strip()
        known = people(request)
        if name and name not in known:
            raise HTTPException(
                400, f"no user named {name!r} to assign to; the users are {', '.join(known)}"
            )
        writer.assign(user.name, ids, name or None, now)
        _audit(request, user, "assign", ids, name or "nobody")
    else:
        state = None if action == "clear" else action
        writer.set_state(user.name, ids, state, now)
        _audit(request, user, "mark", ids, state or "not triaged")


@router.post("/inbox/read-all")
def read_all(request: Request, next: str = Form("/inbox"), csrf: str = Form("")) -> Response:
    _checked(request, csrf)
    _writer(request).mark_all_read(current_user(request).name, _clock(request).now())
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/inbox/{item_id}")
def act(
    request: Request,
    item_id: int,
    action: str = Form(""),
    assignee: str = Form(""),
    note: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """The item page's forms: a state, an assignment, a note, unread again."""
    _checked(request, csrf)
    if action == "note":
        text = note.strip()
        if not text:
            raise HTTPException(400, "an empty note")
        user = require(request, "analyst")
        _writer(request).note(user.name, item_id, text[:4000], _clock(request).now())
        _audit(request, user, "note", [item_id], text[:200])
    elif action in BULK_ACTIONS:
        _apply(request, [item_id], action, assignee)
    else:
        raise HTTPException(400, f"no action {action!r}")
    where = "/inbox" if action == "unread" else f"/inbox/{item_id}"
    return RedirectResponse(where, status_code=303)
