"""Noise handled where it is seen: an inbox item marked noise offers the rules that
would have silenced it, each with the past events it would have kept out, and an
admin adds one to the target in ``targets.yaml`` with one click.

The rules are ``watcher.check.suggest``'s (an ``ignore`` regex generalised from the
changed text, an ``exclude`` selector from the page); the file is changed by
``watcher.config.edit``, which keeps its comments and validates the result, so the
running service reloads it as any edit of the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from watcher.check.suggest import suggest_rules
from watcher.config import ConfigError
from watcher.config.edit import set_target_key
from watcher.diff.rules import Suggestion
from watcher.store import inbox
from watcher.store.inbox import EventRow, InboxWriter, ItemDetail
from watcher.store.index import StoreError
from watcher.web.context import context_of
from watcher.web.identity import require
from watcher.web.pages import config_to_edit, error_page
from watcher.web.security import Guard

router = APIRouter(include_in_schema=False)

OFFERS = 3  # rules shown, best first
RULE_KINDS = ("ignore", "exclude")


@dataclass(frozen=True, slots=True)
class Offer:
    """A rule, with the past inbox events it would have silenced."""

    suggestion: Suggestion
    events: int

    @property
    def kind(self) -> str:
        return self.suggestion.rule.kind

    @property
    def patterns(self) -> tuple[str, ...]:
        return self.suggestion.rule.patterns


@dataclass(frozen=True, slots=True)
class NoiseRules:
    """What the item page offers for a noise item: rules for one target's change, or
    why there are none."""

    target: str = ""
    event: EventRow | None = None
    changes: int = 0  # past changes the rules were tried on
    offers: list[Offer] = field(default_factory=list)
    why_none: str = ""
    writable: bool = False  # the service has a config file to add a rule to


def rules_for(request: Request, detail: ItemDetail) -> NoiseRules:
    """The rules that would have silenced the item's first change of a configured
    target (a grouped item: the first of its targets)."""
    context = context_of(request)
    config = context.config()
    if config is None:
        return NoiseRules(why_none="the config cannot be read, so rules cannot be tried")
    names = {t.name for t in config.targets}
    changes = [e for e in detail.events if e.capture_id and e.previous_id]
    if not changes:
        return NoiseRules(why_none="no change of a text here to learn a rule from")
    event = next((e for e in changes if e.target in names), None)
    if event is None:
        return NoiseRules(
            why_none="a listing's notice: rules are offered for the targets in targets.yaml"
        )
    target = config.target(event.target)
    try:
        found = suggest_rules(
            context.store, target, event.capture_id, regex_timeout=config.settings.regex_timeout
        )
    except StoreError as exc:
        return NoiseRules(target=target.name, event=event, why_none=str(exc))
    silencing = [s for s in found.rules if s.focus_silenced][:OFFERS]
    offers = [Offer(s, inbox.events_of_captures(context.store, s.silenced)) for s in silencing]
    why = "" if offers else "no rule found that would have silenced this change alone"
    return NoiseRules(
        target=target.name,
        event=event,
        changes=found.changes,
        offers=offers,
        why_none=why,
        writable=context.config_path is not None,
    )


@router.post("/inbox/{item_id}/rule")
def add_rule(
    request: Request,
    item_id: int,
    target: str = Form(""),
    kind: str = Form(""),
    patterns: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    """Admins: add the offered rule to the target's ``ignore`` or ``exclude`` key.
    ``patterns``: the rule's patterns as a JSON list (one form field, whatever the
    form parser's way with repeated fields)."""
    guard: Guard = request.app.state.guard
    guard.require_csrf(request, csrf)
    user = require(request, "admin")
    wanted = _patterns(patterns)
    if kind not in RULE_KINDS or not wanted:
        raise HTTPException(
            400, f"a rule needs a kind ({' or '.join(RULE_KINDS)}) and a JSON list of patterns"
        )
    context = context_of(request)
    if inbox.item(context.store, user.name, item_id) is None:
        return error_page(request, 404, f"no inbox item {item_id}")
    found = config_to_edit(request, "add to")
    if isinstance(found, Response):
        return found
    path, config = found
    try:
        existing = getattr(config.target(target), kind)
    except KeyError:
        return error_page(request, 404, f"no target named {target!r} in the config")
    value = [*existing, *(p for p in wanted if p not in existing)]
    try:
        set_target_key(path, target, kind, value)
    except ConfigError as exc:
        return error_page(request, 400, f"the rule was not added: {exc}")
    said = f"{kind}: {', '.join(wanted)} on {target}"
    writer: InboxWriter = request.app.state.inbox_writer
    writer.rule_added(user.name, item_id, said, request.app.state.clock.now())
    guard.record(user, "rule add", target, f"{kind} {' '.join(wanted)} (inbox item {item_id})")
    return RedirectResponse(f"/inbox/{item_id}?added={kind}#rule", status_code=303)


def _patterns(given: str) -> list[str]:
    try:
        value = json.loads(given)
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [p for p in value if isinstance(p, str) and p.strip()]
