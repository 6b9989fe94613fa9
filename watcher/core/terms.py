"""Keyword terms that match a notice's metadata instead of its text (``issuer:``,
``docno:``): read by the config's checks and by the keyword matcher in analysis
workers, which load no pydantic."""

from __future__ import annotations

# the issuer contains the value, the 文号 starts with it
FIELD_PREFIXES = {"issuer:": "issuer", "docno:": "document_number"}


def field_of(term: str) -> tuple[str, str] | None:
    """(metadata key, value) of an ``issuer:`` / ``docno:`` term; None for a text term."""
    for prefix, key in FIELD_PREFIXES.items():
        if term.startswith(prefix):
            return key, term[len(prefix) :].strip()
    return None
