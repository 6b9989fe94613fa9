"""Pages the target editor fetched, kept for the admin tuning them, and the page as
the preview pane shows it.

A preview is kept server-side so that a new selector re-reads the same bytes at
once, with no second fetch; kept per user, for an hour, a few at a time and within a
memory budget, the oldest dropped first. The pane shows the page in a sandboxed
frame with an opaque origin: the page's own scripts, frames, plugins, refreshes and
event handlers are taken out, nothing is loaded from elsewhere, and one script of
ours (by its nonce) reports the element clicked to the editor by ``postMessage``.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from watcher.check.preview import Preview
from watcher.core.clock import Clock

__all__ = ["Draft", "Drafts", "pane_csp", "pane_document"]

KEPT = 16  # previews kept, all users together
BUDGET = 96_000_000  # bytes of kept pages, all users together
LIFETIME = timedelta(hours=1)
PICKER = (Path(__file__).parent / "static" / "picker.js").read_text(encoding="utf-8")
_DROPPED = ("script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link")
_URL_ATTRIBUTES = ("href", "src", "action", "formaction", "srcset", "poster", "data")


@dataclass(frozen=True, slots=True)
class Draft:
    """A fetched page an admin is making (or editing) a target from."""

    token: str
    user: str
    made: datetime
    preview: Preview
    target: str | None  # the target being edited; None: a new one


class Drafts:
    """The kept previews; safe to use from the app's threads."""

    def __init__(self, clock: Clock, kept: int = KEPT, budget: int = BUDGET) -> None:
        self.clock = clock
        self.kept = kept
        self.budget = budget
        self._drafts: OrderedDict[str, Draft] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, user: str, preview: Preview, target: str | None) -> Draft:
        draft = Draft(secrets.token_urlsafe(16), user, self.clock.now(), preview, target)
        with self._lock:
            self._drafts[draft.token] = draft
            self._trim()
        return draft

    def get(self, token: str, user: str) -> Draft | None:
        """The user's draft (another user's is none of theirs), while it lasts."""
        with self._lock:
            self._trim()
            draft = self._drafts.get(token)
        return draft if draft is not None and draft.user == user else None

    def _trim(self) -> None:
        oldest = self.clock.now() - LIFETIME
        for token in [t for t, d in self._drafts.items() if d.made < oldest]:
            del self._drafts[token]
        total = sum(d.preview.size for d in self._drafts.values())
        while self._drafts and (len(self._drafts) > self.kept or total > self.budget):
            _token, dropped = self._drafts.popitem(last=False)
            total -= dropped.preview.size


def pane_csp(nonce: str) -> str:
    """The preview pane's policy: its own opaque origin, our one script, the page's
    inline styles and data: images, no requests anywhere else."""
    return (
        "sandbox allow-scripts; default-src 'none'; "
        f"script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'self'"
    )


def pane_document(html: str, nonce: str) -> str:
    """The page with everything active taken out, and the picker script added."""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        root = lxml_html.document_fromstring(html or "<html><body></body></html>")
    except (etree.ParserError, ValueError):
        root = lxml_html.document_fromstring("<html><body></body></html>")
    etree.strip_elements(root, *_DROPPED, with_tail=False)
    for meta in list(root.iter("meta")):
        if (meta.get("http-equiv") or "").lower() in ("refresh", "content-security-policy"):
            meta.drop_tree()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name in list(element.attrib):
            lowered = name.lower()
            value = element.attrib[name].strip().lower()
            if lowered.startswith("on") or (
                lowered in _URL_ATTRIBUTES and value.startswith(("javascript:", "vbscript:"))
            ):
                del element.attrib[name]
    body = root.find("body")
    if body is None:
        body = etree.SubElement(root, "body")
    script = etree.SubElement(body, "script", nonce=nonce)
    script.text = PICKER
    return "<!doctype html>\n" + lxml_html.tostring(root, encoding="unicode")
