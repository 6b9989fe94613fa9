"""Give freed heap memory back to the system (glibc's ``malloc_trim``).

Python frees objects into its allocator, and glibc keeps what is freed for the
next allocations; after a burst (a 1 MB page parsed, a cycle of 1,000 pages),
a long-lived process would hold that peak for good. Other C libraries (musl,
macOS) have no such call, and there this does nothing.
"""

from __future__ import annotations

from typing import Any

_malloc_trim: Any = None


def trim() -> bool:
    """Return the free heap to the system; False where the C library cannot."""
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes  # here: a check that analyses nothing never needs it

        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim
        except (AttributeError, OSError):
            _malloc_trim = False
    if _malloc_trim is False:
        return False
    _malloc_trim(0)
    return True
