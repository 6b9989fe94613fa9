"""Regions a new target could watch, proposed from its page, so that an analyst who
pastes a URL starts from the article or the notice list rather than a blank selector.

Reads one fetched page (and, for a page its scripts fill, the JSON its scripts
fetched); stores nothing. Each proposal is the target's keys as they would be
written in ``targets.yaml``, so the editor can show, tune and save it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Observed", "Proposal", "document_select", "propose"]


@dataclass(frozen=True, slots=True)
class Observed:
    """A response the page's own scripts fetched while it rendered (browser fetch only)."""

    url: str
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Proposal:
    """One region worth watching, and how to watch it."""

    kind: Literal["article", "listing", "json-listing"]
    label: str  # what the analyst reads: "Main article (1,234 characters)", "Notice list: 20 links"
    fragment: dict[str, Any]  # the target's keys as in targets.yaml: {"select": …} or {"follow": …}
    selector: str | None = None  # the region on the page, to outline in the preview
    sample: tuple[str, ...] = field(default=())  # the first lines, or the first items' titles


def propose(html: str, url: str, observed: Sequence[Observed] = ()) -> list[Proposal]:
    """The regions of the page at ``url`` worth watching, best first."""
    return []


def document_select(html: str, url: str) -> tuple[str, ...]:
    """CSS selectors of a listing's document page worth keeping (its title, metadata
    and body), for the proposal's ``follow: select``; empty: keep ``select: auto``."""
    return ()
