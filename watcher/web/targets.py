"""Targets from the browser: ``/targets`` lists what ``targets.yaml`` watches, and
admins add, tune, pause, resume and remove targets there.

Adding one starts from a pasted URL: the page is fetched as its check would fetch it
(``watcher.check.preview``), shown beside the text a check would store, and a click
in the page, a typed selector or an accepted proposal changes that text at once
(re-read from the kept bytes). Every change goes through ``watcher.config.edit``
(comments kept, the result validated by the loader, its ``FILE:LINE`` messages
shown), so the running service reloads the file as any edit.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from watcher.analysis.analyse import ExtractionProblem
from watcher.check.preview import Preview, draft_target, hits_of, preview, suggest_name, text_of
from watcher.config import Config, ConfigError, Target
from watcher.config.edit import add_target, remove_target, update_target
from watcher.config.units import check_cron, parse_duration
from watcher.core.budget import OverBudget
from watcher.core.models import TermHits
from watcher.store import views
from watcher.store.index import StoreError
from watcher.web.context import context_of
from watcher.web.drafts import Draft, Drafts, pane_csp, pane_document
from watcher.web.identity import User, current_user, require
from watcher.web.pages import config_to_edit, error_page, render
from watcher.web.security import Guard

router = APIRouter(include_in_schema=False)

SHOWN_CHARACTERS = 200_000  # of the stored text, in the editor
DONE = {"added", "saved", "paused", "resumed", "removed"}
_TAGS = re.compile(r"[\s,，]+")


def _guard(request: Request) -> Guard:
    return request.app.state.guard


def _drafts(request: Request) -> Drafts:
    return request.app.state.drafts


# -- the list -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetRow:
    name: str
    title: str
    url: str
    schedule: str
    paused: bool
    status: str | None  # the last check's status; None: never checked
    last_checked_at: Any


def schedule_of(target: Target) -> str:
    if target.cron:
        return f"cron {target.cron}"
    seconds = int(target.interval or 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"every {seconds // size}{unit}"
    return f"every {seconds}s"


@router.get("/targets", response_class=HTMLResponse)
def targets_page(request: Request, done: str = "", name: str = "") -> HTMLResponse:
    """Every configured target and its state; admins get the editing controls."""
    context = context_of(request)
    config = context.config()
    if config is None:
        return error_page(request, 409, "the config cannot be read, so there are no targets")
    try:
        summaries = views.summaries(context.store, counted=False)
    except StoreError:
        summaries = {}  # nothing checked yet
    rows = []
    for t in config.targets:
        s = summaries.get(t.name)
        rows.append(
            TargetRow(
                t.name,
                t.title,
                t.url,
                schedule_of(t),
                t.paused,
                s.last_status if s else None,
                s.last_checked_at if s else None,
            )
        )
    paths = {getattr(r, "path", "") for r in request.app.routes}
    return render(
        request,
        "targets.html",
        title="Targets — watcher",
        rows=rows,
        editable=current_user(request).may("admin") and context.config_path is not None,
        can_import="/targets/import" in paths,
        done=done if done in DONE else "",
        name=name,
    )


def _write(request: Request, name: str, csrf: str, action: str) -> tuple[User, Config] | Response:
    """The admin, the config and its file for a change to target ``name``, or the
    page that says why not."""
    _guard(request).require_csrf(request, csrf)
    user = require(request, "admin")
    found = config_to_edit(request, action)
    if isinstance(found, Response):
        return found
    _, config = found
    if name not in {t.name for t in config.targets}:
        return error_page(request, 404, f"no target named {name!r} in the config")
    return user, config


@router.post("/targets/{name}/pause")
def pause(request: Request, name: str, csrf: str = Form("")) -> Response:
    """``paused: true``: the service stops scheduling it once it reloads the file."""
    return _pause(request, name, csrf, paused=True)


@router.post("/targets/{name}/resume")
def resume(request: Request, name: str, csrf: str = Form("")) -> Response:
    return _pause(request, name, csrf, paused=False)


def _pause(request: Request, name: str, csrf: str, *, paused: bool) -> Response:
    found = _write(request, name, csrf, "pause a target in" if paused else "resume a target in")
    if isinstance(found, Response):
        return found
    user, _config = found
    path = context_of(request).config_path
    assert path is not None
    try:
        if paused:
            update_target(path, name, {"paused": True})
        else:
            update_target(path, name, {}, ("paused",))
    except ConfigError as exc:
        return error_page(request, 400, f"{name} was not changed: {exc}", ("/targets", "Targets"))
    done = "paused" if paused else "resumed"
    _guard(request).record(user, f"target {'pause' if paused else 'resume'}", name)
    return RedirectResponse(f"/targets?done={done}&name={name}", status_code=303)


@router.post("/targets/{name}/remove")
def remove(request: Request, name: str, csrf: str = Form("")) -> Response:
    """Out of ``targets.yaml``; its captures stay in the store."""
    found = _write(request, name, csrf, "remove a target from")
    if isinstance(found, Response):
        return found
    user, _config = found
    path = context_of(request).config_path
    assert path is not None
    try:
        remove_target(path, name)
    except ConfigError as exc:
        return error_page(request, 400, f"{name} was not removed: {exc}", ("/targets", "Targets"))
    _guard(request).record(user, "target remove", name)
    return RedirectResponse(f"/targets?done=removed&name={name}", status_code=303)


# -- the editor -----------------------------------------------------------------------


@dataclass
class Editor:
    """What the editor's form shows: a target's keys as the form edits them."""

    url: str = ""
    name: str = ""
    title: str = ""
    select: str = ""
    follow: str = ""  # JSON of the `follow:` mapping
    keywords: list[str] = field(default_factory=list)
    schedule: str = "default"  # default, interval or cron
    interval: str = ""
    cron: str = ""
    notify: str = ""  # tags, comma-separated
    fetch: str = "http"
    extra: str = ""  # JSON of an accepted proposal's other keys (a JSON listing's url, headers)

    @classmethod
    def of(cls, target: Target) -> Editor:
        follow = target.follow.model_dump(exclude_defaults=True) if target.follow else None
        return cls(
            url=target.url,
            name=target.name,
            title=target.title if target.title != target.name else "",
            select=", ".join(target.select),
            follow=json.dumps(follow, ensure_ascii=False) if follow else "",
            keywords=list(target.keywords),
            schedule="cron" if target.cron else "interval",
            interval=schedule_of(target).removeprefix("every ") if not target.cron else "",
            cron=target.cron or "",
            notify=", ".join(target.notify),
            fetch=target.fetch,
        )


def _editor_page(
    request: Request,
    config: Config,
    form: Editor,
    draft: Draft | None,
    editing: str | None,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = draft.preview if draft else None
    text, problem = (found.text, found.error) if found else ("", None)
    if found is not None and found.error is None and form.select:
        text, problem = _text(config, found, editing, form.select)
    hits = hits_of(config.keywords, form.keywords, text) if text else []
    return render(
        request,
        "target_edit.html",
        status_code,
        title=(f"Edit {editing}" if editing else "Add a target") + " — watcher",
        form=form,
        editing=editing,
        draft=draft,
        preview=found,
        text=text[:SHOWN_CHARACTERS],
        cut=len(text) > SHOWN_CHARACTERS,
        problem=problem,
        hits=hits,
        groups=list(config.keywords),
        proposals=[_proposal(p) for p in found.proposals] if found else [],
        errors=errors or [],
    )


def _proposal(p: Any) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "label": p.label,
        "fragment": json.dumps(p.fragment, ensure_ascii=False),
        "selector": p.selector or "",
        "sample": list(p.sample),
    }


def _admin_config(request: Request) -> Config | Response:
    require(request, "admin")
    found = config_to_edit(request, "edit")
    return found if isinstance(found, Response) else found[1]


@router.get("/targets/new", response_class=HTMLResponse)
def new_target(request: Request, draft: str = "") -> Response:
    """Paste a URL; with a fetched draft, tune and save it."""
    config = _admin_config(request)
    if isinstance(config, Response):
        return config
    found = _drafts(request).get(draft, current_user(request).name) if draft else None
    if found is not None and found.target is not None:
        found = None  # a draft of an edit is not a new target's
    form = Editor(keywords=list(config.keywords))
    if found is not None:
        p = found.preview
        taken = [t.name for t in config.targets]
        form.url, form.name, form.title = p.url, suggest_name(p.url, taken), p.title
        form.fetch = p.fetch
    elif draft:
        return _gone(request, "/targets/new")
    return _editor_page(request, config, form, found, None)


@router.get("/targets/{name}/edit", response_class=HTMLResponse)
def edit_target(request: Request, name: str, draft: str = "") -> Response:
    config = _admin_config(request)
    if isinstance(config, Response):
        return config
    try:
        target = config.target(name)
    except KeyError:
        return error_page(request, 404, f"no target named {name!r} in the config")
    form = Editor.of(target)
    found = _drafts(request).get(draft, current_user(request).name) if draft else None
    if found is not None and found.target != name:
        found = None  # another target's draft
    if found is not None:
        form.url = found.preview.url
    elif draft:
        return _gone(request, f"/targets/{name}/edit")
    return _editor_page(request, config, form, found, name)


def _gone(request: Request, back: str) -> HTMLResponse:
    return error_page(
        request, 404, "this preview is no longer kept (an hour, a few at a time): fetch again",
        (back, "Start again"),
    )  # fmt: skip


@router.post("/targets/fetch")
async def fetch_page(
    request: Request, url: str = Form(""), editing: str = Form(""), csrf: str = Form("")
) -> Response:
    """Fetch the pasted URL as the target's check would, keep it, open the editor on it."""
    _guard(request).require_csrf(request, csrf)
    user = require(request, "admin")
    config = _admin_config(request)
    if isinstance(config, Response):
        return config
    url = url.strip()
    base = None
    if editing:
        try:
            base = config.target(editing)
        except KeyError:
            return error_page(request, 404, f"no target named {editing!r} in the config")
    form = Editor.of(base) if base else Editor(keywords=list(config.keywords))
    form.url = url
    try:
        target = draft_target(config, url, editing or "new-target", base)
    except ValueError as exc:
        return _editor_page(
            request, config, form, None, editing or None, [f"url: {_first(exc)}"], 400
        )
    found = await preview(config, target, request.app.state.clock)
    draft = _drafts(request).add(user.name, found, editing or None)
    where = f"/targets/{editing}/edit" if editing else "/targets/new"
    return RedirectResponse(f"{where}?draft={draft.token}", status_code=303)


def _first(exc: Exception) -> str:
    """pydantic's first complaint, as one line."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        listed = errors()
        if listed:
            return str(listed[0].get("msg", exc))
    return str(exc)


@router.get("/targets/drafts/{token}/page")
def pane(request: Request, token: str) -> Response:
    """The fetched page for the preview frame: sandboxed, our one script in it."""
    require(request, "admin")
    draft = _drafts(request).get(token, current_user(request).name)
    if draft is None:
        return Response("this preview is no longer kept", status_code=404)
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(
        pane_document(draft.preview.html, nonce),
        headers={"Content-Security-Policy": pane_csp(nonce), "Cache-Control": "no-store"},
    )


@router.post("/targets/drafts/{token}/text")
async def draft_text(request: Request, token: str) -> JSONResponse:
    """The text a check would store with this selector, and the chosen groups' hits.
    Body: ``{"select": "CSS", "keywords": ["group", …]}``; the CSRF token in the
    ``X-CSRF-Token`` header."""
    _guard(request).require_csrf(request, None)
    user = require(request, "admin")
    config = _admin_config(request)
    if isinstance(config, Response):
        return JSONResponse({"error": "this service has no readable config file"}, 409)
    draft = _drafts(request).get(token, user.name)
    if draft is None:
        return JSONResponse({"error": "this preview is no longer kept: fetch the page again"}, 404)
    try:
        asked = await request.json()
    except ValueError:
        asked = None
    if not isinstance(asked, dict) or not isinstance(asked.get("select", ""), str):
        return JSONResponse({"error": 'send {"select": "CSS", "keywords": [groups]}'}, 400)
    groups = [g for g in asked.get("keywords") or [] if isinstance(g, str)]
    if draft.preview.error is not None:
        return JSONResponse({"error": draft.preview.error, "text": "", "hits": []}, 200)
    text, problem = await asyncio.to_thread(
        _text, config, draft.preview, draft.target, asked.get("select", "")
    )
    return JSONResponse(
        {
            "text": text[:SHOWN_CHARACTERS],
            "characters": len(text),
            "cut": len(text) > SHOWN_CHARACTERS,
            "error": problem,
            "hits": [_hit(h) for h in hits_of(config.keywords, groups, text)] if text else [],
        }
    )


def _hit(hit: TermHits) -> dict[str, Any]:
    return {"group": hit.group, "term": hit.term, "count": hit.count, "snippet": hit.snippet}


def _text(
    config: Config, found: Preview, editing: str | None, select: str
) -> tuple[str, str | None]:
    """(text, why there is none) for a selector typed, clicked or proposed."""
    own = _own(config, editing)
    chosen = [select.strip()] if select.strip() else []
    try:
        exclude = own.exclude if own else tuple(config.defaults.exclude or ())
        ignore = own.ignore if own else tuple(config.defaults.ignore or ())
        text = text_of(found, chosen, exclude, ignore, config.settings.regex_timeout)
    except ValueError as exc:
        return "", f"select: {exc}"
    except (ExtractionProblem, OverBudget) as exc:
        return "", f"select {select!r}: {exc}"
    return text, None


def _own(config: Config, editing: str | None) -> Target | None:
    if editing is None:
        return None
    try:
        return config.target(editing)
    except KeyError:
        return None


@router.post("/targets/save")
async def save(request: Request) -> Response:
    """Write the form's target into ``targets.yaml`` (added, or the edited one's
    changed keys), validated; a refusal shows the form again with the reasons.
    ``action=show`` saves nothing: the form again, its text read with its selector
    (what the page's script does at once, for a browser without scripts)."""
    form_data = await request.form()
    _guard(request).require_csrf(request, str(form_data.get("csrf", "")))
    user = require(request, "admin")
    config = _admin_config(request)
    if isinstance(config, Response):
        return config
    editing = str(form_data.get("editing", "")) or None
    form = Editor(
        url=str(form_data.get("url", "")).strip(),
        name=str(form_data.get("name", "")).strip(),
        title=str(form_data.get("title", "")).strip(),
        select=str(form_data.get("select", "")).strip(),
        follow=str(form_data.get("follow", "")).strip(),
        keywords=[str(g) for g in form_data.getlist("keywords")],
        schedule=str(form_data.get("schedule", "default")),
        interval=str(form_data.get("interval", "")).strip(),
        cron=str(form_data.get("cron", "")).strip(),
        notify=str(form_data.get("notify", "")).strip(),
        fetch=str(form_data.get("fetch", "http")),
        extra=str(form_data.get("extra", "")).strip(),
    )
    token = str(form_data.get("draft", ""))
    draft = _drafts(request).get(token, user.name) if token else None
    path = context_of(request).config_path
    assert path is not None
    problems = _form_problems(form, config)
    if form_data.get("action") == "show":  # no scripts: the text with this selector, unsaved
        return _editor_page(request, config, form, draft, editing, problems)
    if not problems:
        try:
            if editing is None:
                add_target(path, _entry(form, config))
            else:
                target = config.target(editing)
                values, dropped = _changes(form, target, config)
                update_target(path, editing, values, dropped)
        except KeyError:
            return error_page(request, 404, f"no target named {editing!r} in the config")
        except ConfigError as exc:
            problems = [str(issue) for issue in exc.issues]
    if problems:
        return _editor_page(request, config, form, draft, editing, problems, 400)
    name = editing or form.name
    _guard(request).record(user, "target add" if editing is None else "target edit", name)
    done = "added" if editing is None else "saved"
    return RedirectResponse(f"/targets?done={done}&name={name}", status_code=303)


def _form_problems(form: Editor, config: Config) -> list[str]:
    """What the loader would say less clearly (or not at all) about the form itself."""
    problems = []
    if not form.url:
        problems.append("url: paste the page's address")
    if form.schedule == "interval":
        try:
            parse_duration(form.interval)
        except ValueError as exc:
            problems.append(f"interval: {exc}")
    elif form.schedule == "cron":
        try:
            check_cron(form.cron)
        except ValueError as exc:
            problems.append(f"cron: {exc}")
    if form.follow:
        try:
            if not isinstance(json.loads(form.follow), dict):
                problems.append("follow: a mapping of follow keys, as JSON")
        except ValueError as exc:
            problems.append(f"follow: not JSON ({exc})")
    if form.extra:
        try:
            extra = json.loads(form.extra)
        except ValueError as exc:
            extra = None
            problems.append(f"the proposal's keys: not JSON ({exc})")
        if extra is not None and (not isinstance(extra, dict) or "name" in extra):
            problems.append("the proposal's keys: a mapping of target keys other than name")
    unknown = [g for g in form.keywords if g not in config.keywords]
    if unknown:
        problems.append(f"keywords: no group named {', '.join(unknown)} in the config")
    return problems


def _entry(form: Editor, config: Config) -> dict[str, Any]:
    """A new target's keys, as few as say it: what the defaults give is left out."""
    entry: dict[str, Any] = {"name": form.name}
    if form.title and form.title != form.name:
        entry["title"] = form.title
    entry["url"] = form.url
    if form.select:
        entry["select"] = form.select
    if form.follow:
        entry["follow"] = json.loads(form.follow)
    if set(form.keywords) != set(config.keywords):
        entry["keywords"] = form.keywords
    if form.schedule == "interval":
        entry["interval"] = form.interval
    elif form.schedule == "cron":
        entry["cron"] = form.cron
    tags = _tags(form.notify)
    if tags and tuple(tags) != tuple(config.defaults.notify or ()):
        entry["notify"] = tags
    if form.fetch != (config.defaults.fetch or "http"):
        entry["fetch"] = form.fetch
    entry.update(json.loads(form.extra) if form.extra else {})  # a proposal's url stays in place
    return entry


def _changes(form: Editor, target: Target, config: Config) -> tuple[dict[str, Any], list[str]]:
    """The keys of an edited target to set, and those to remove: only what changed."""
    values: dict[str, Any] = {}
    dropped: list[str] = []
    if form.url != target.url:
        values["url"] = form.url
    if (form.title or target.name) != target.title:
        if form.title:
            values["title"] = form.title
        else:
            dropped.append("title")
    if form.select != ", ".join(target.select):
        if form.select:
            values["select"] = form.select
        else:
            dropped.append("select")
    was = Editor.of(target).follow
    if form.follow != was:
        if form.follow:
            values["follow"] = json.loads(form.follow)
        else:
            dropped.append("follow")
    if set(form.keywords) != set(target.keywords):
        values["keywords"] = form.keywords
    if form.schedule == "interval" and (
        target.cron or parse_duration(form.interval) != target.interval
    ):
        values["interval"] = form.interval
        dropped.append("cron")
    elif form.schedule == "cron" and (target.interval or check_cron(form.cron) != target.cron):
        values["cron"] = form.cron
        dropped.append("interval")
    tags = _tags(form.notify)
    if tuple(tags) != tuple(target.notify):
        if tags:
            values["notify"] = tags
        else:
            dropped.append("notify")
    if form.fetch != target.fetch:
        values["fetch"] = form.fetch
    values.update(json.loads(form.extra) if form.extra else {})
    return values, dropped


def _tags(given: str) -> list[str]:
    return [t for t in _TAGS.split(given) if t]
