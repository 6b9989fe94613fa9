"""The data folder's file system: can it be written, is there room, was that a full disk.

A read-only or full disk is an operator's problem, not a bug: it gets one sentence
naming the folder and what to do, never a traceback, and ``/healthz`` reports it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import sqlalchemy as sa

MIN_FREE = 100 * 2**20  # bytes: below this free on the data folder, /healthz says unhealthy
_FULL = (errno.ENOSPC, errno.EDQUOT)
_SQLITE_FULL = 13  # SQLite's result code "database or disk is full"


class DiskFull(Exception):
    """A store write failed for lack of space; the message names the folder."""


def full_message(root: Path) -> str:
    return f"disk full on {root}: nothing new could be stored; free space there"


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a write that found no space: an OSError
    from a blob write (also from a worker process) or SQLite's "disk is full"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DiskFull):
            return True
        if isinstance(current, OSError) and current.errno in _FULL:
            return True
        if isinstance(current, sa.exc.DBAPIError):
            orig = current.orig
            code = getattr(orig, "sqlite_errorcode", None)
            if code is not None and code & 0xFF == _SQLITE_FULL:
                return True
            if "database or disk is full" in str(orig):
                return True
        current = current.__cause__ or current.__context__
    return False


def unwritable(folder: Path) -> str | None:
    """Why ``folder`` cannot be written (read-only, no permission), or None.

    Tried by creating a file, not by asking ``os.access``: as root, permissions
    allow everything while a read-only mount still refuses."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        if exc.errno in _FULL:
            return f"the data folder {folder} is on a full disk ({reason}): free space there"
        return (
            f"the data folder {folder} cannot be written ({reason}): make it writable "
            f"for user {os.getuid()}, or point --data (WATCHER_DATA) to a writable folder"
        )
    os.close(fd)
    probe.unlink(missing_ok=True)
    return None


def free_bytes(folder: Path) -> int:
    """Bytes this process may still write on ``folder``'s file system."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def no_room(folder: Path) -> bool:
    """Whether ``folder``'s file system is as good as full (under 1 MiB free)."""
    try:
        return free_bytes(folder) < 2**20
    except OSError:
        return False


def low_space(folder: Path, min_free: int = MIN_FREE) -> str | None:
    """A sentence when ``folder`` has less than ``min_free`` bytes free, else None."""
    try:
        free = free_bytes(folder)
    except OSError as exc:
        return f"cannot see free space on {folder}: {exc.strerror or exc}"
    if free >= min_free:
        return None
    return f"disk nearly full on {folder}: {_mib(free)} free, below {_mib(min_free)}"


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
