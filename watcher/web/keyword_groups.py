"""``/keywords``: the configured keyword groups, what each would have hit in the
stored captures, and (admins) adding, editing, renaming and removing them.

A change is written into ``targets.yaml`` by ``watcher.config.edit`` (comments
kept, validated by the loader, the file replaced atomically), so the running
service reloads it as any edit of the file; a rename renames the group in the
targets that use it. A draft can be previewed before it is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from watcher.config import Config, ConfigError
from watcher.config.edit import keyword_group_problems, remove_keyword_group, set_keyword_group
from watcher.web.context import context_of
from watcher.web.group_preview import BUDGET, WINDOW, Preview, TermCache, preview_groups
from watcher.web.identity import current_user, require
from watcher.web.pages import config_to_edit, error_page, render
from watcher.web.security import Guard

router = APIRouter(include_in_schema=False)

ACTIONS = ("save", "remove", "preview")
DONE = ("saved", "renamed", "added", "removed")
MAX_TERMS_TEXT = 20_000  # characters of one group's terms as typed


@dataclass(frozen=True, slots=True)
class GroupView:
    name: str
    terms: tuple[str, ...]
    users: tuple[str, ...]  # the targets matched against it
    preview: Preview


@dataclass(frozen=True, slots=True)
class Draft:
    """A group as the admin typed it: ``group`` is the one it edits ("" for a new one)."""

    group: str
    name: str
    terms: tuple[str, ...]
    problems: tuple[str, ...] = ()
    preview: Preview | None = None


def cache_of(request: Request) -> TermCache:
    """The app's cache of per-text matches, made on first use."""
    state = request.app.state
    if getattr(state, "term_cache", None) is None:
        state.term_cache = TermCache()
    return state.term_cache


@router.get("/keywords", response_class=HTMLResponse)
def keywords_page(request: Request, done: str = "", name: str = "") -> HTMLResponse:
    """Everyone: the groups and their previews; admins also get the forms."""
    return _page(request, done=done if done in DONE else "", name=name)


@router.post("/keywords")
def change_group(
    request: Request,
    action: str = Form(""),
    group: str = Form(""),
    name: str = Form(""),
    terms: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """Admins: ``preview`` a draft, ``save`` it (a new group, new terms, a new name),
    or ``remove`` a group."""
    guard: Guard = request.app.state.guard
    guard.require_csrf(request, csrf)
    user = require(request, "admin")
    if action not in ACTIONS:
        return error_page(request, 400, f"no action {action!r}; one of {', '.join(ACTIONS)}")
    found = config_to_edit(request, "change")
    if isinstance(found, Response):
        return found
    path, _ = found
    if len(terms) > MAX_TERMS_TEXT:
        return error_page(request, 400, f"the terms are longer than {MAX_TERMS_TEXT} characters")
    name, group = name.strip(), group.strip()
    draft = Draft(group, name, _terms(terms))
    if action == "preview":
        return _page(request, draft=draft)
    try:
        if action == "remove":
            remove_keyword_group(path, group)
            done, said = "removed", ""
        else:
            done, said = _save(path, draft)
    except ConfigError as exc:  # the form comes back as typed, with the loader's message
        kept = None if action == "remove" else draft
        return _page(request, draft=kept, error=str(exc), status_code=400)
    subject = group if action == "remove" else name
    guard.record(user, f"keywords {done}", subject, said)
    query = urlencode({"done": done, "name": subject})
    anchor = "" if done == "removed" else f"#group-{subject}"
    return RedirectResponse(f"/keywords?{query}{anchor}", status_code=303)


def _save(path: Path, draft: Draft) -> tuple[str, str]:
    """Write the draft; the loader's FILE:LINE messages if the file would not load."""
    old = draft.group or None
    set_keyword_group(path, draft.name, draft.terms, old_name=old)
    said = ", ".join(draft.terms)
    if old is None:
        return "added", said
    if old != draft.name:
        return "renamed", f"from {old}: {said}"
    return "saved", said


def _terms(text: str) -> tuple[str, ...]:
    """One term a line, as typed (a regex may hold commas); blank lines go."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _page(
    request: Request,
    *,
    draft: Draft | None = None,
    error: str = "",
    status_code: int = 200,
    done: str = "",
    name: str = "",
) -> HTMLResponse:
    context = context_of(request)
    config = context.config()
    if config is None:
        return error_page(request, 503, "the config cannot be read, so its groups cannot be shown")
    asked = list(config.keywords.items())
    if draft is not None:
        problems = tuple(keyword_group_problems(draft.name, draft.terms))
        draft = Draft(draft.group, draft.name, draft.terms, problems)
        if not problems:
            asked.append(("\0draft", draft.terms))
    previews = preview_groups(
        context.store,
        asked,
        cache_of(request),
        request.app.state.clock,
        budget=BUDGET,
        regex_timeout=config.settings.regex_timeout,
    )
    if draft is not None and not draft.problems:
        draft = Draft(draft.group, draft.name, draft.terms, (), previews.pop())
    groups = [
        GroupView(g, tuple(terms), _users(config, g), p)
        for (g, terms), p in zip(config.keywords.items(), previews, strict=True)
    ]
    user = current_user(request)
    return render(
        request,
        "keywords.html",
        status_code,
        title="Keyword groups — watcher",
        groups=groups,
        draft=draft,
        error=error,
        done=done,
        name=name,
        admin=user.may("admin") and context.config_path is not None,
        days=WINDOW.days,
    )


def _users(config: Config, group: str) -> tuple[str, ...]:
    return tuple(t.name for t in config.targets if group in t.keywords)
