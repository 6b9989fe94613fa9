"""``/api/targets/{name}/suggest-rules``: the rules that would have silenced a change,
for the page where a change is marked as noise."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from watcher.check.suggest import suggest_rules, suggestions_json
from watcher.store.index import StoreError
from watcher.web.context import context_of

router = APIRouter(prefix="/api", tags=["api"])


@router.get(
    "/targets/{name}/suggest-rules",
    summary="Rules that would have silenced a change, with the past changes each silences",
)
def suggest(
    request: Request,
    name: str,
    capture: str | None = Query(None, description="The change's capture id (default: the latest)"),
) -> dict[str, Any]:
    context = context_of(request)
    config = context.config()
    if config is None:
        raise HTTPException(503, "the config cannot be read: rules need the target's settings")
    try:
        target = config.target(name)
    except KeyError:
        raise HTTPException(404, f"no target named {name!r}") from None
    try:
        found = suggest_rules(
            context.store, target, capture, regex_timeout=config.settings.regex_timeout
        )
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    return suggestions_json(found)
