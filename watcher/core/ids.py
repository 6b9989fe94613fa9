"""Capture ids: time-ordered and unique across processes (ULID layout).

Sortable ids let the history be ordered by id alone, and unlike integer keys
they stay unique when several workers write to one index later.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32


def new_id(now: float | None = None) -> str:
    """26 characters: 48 bits of milliseconds, then 80 random bits."""
    ms = int((time.time() if now is None else now) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
