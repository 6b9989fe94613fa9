"""Content-addressed, zstd-compressed blobs named by the SHA-256 of their content.

The one place that touches blob files, behind a small interface keyed by
SHA-256, so an S3-compatible store can replace local files later. A blob is
written to a temporary file, fsynced and renamed into place, so a reader (or
a crash) never sees a partial blob under its final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

import zstandard

ZSTD_LEVEL = 9  # measured: within 5% of level 19's size at a fraction of its CPU


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    def put(self, data: bytes, digest: str | None = None) -> str: ...
    def get(self, digest: str) -> bytes: ...
    def exists(self, digest: str) -> bool: ...


class BlobMissing(Exception):
    """A capture refers to a blob that is not in the store."""


class LocalBlobStore:
    """Blobs under ``root/ab/cdef….zst``; identical content is stored once."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest[2:]}.zst"

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data`` unless present; returns its SHA-256. Safe to call concurrently."""
        digest = digest or sha256(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # a compressor per call: zstd contexts are not thread-safe
        compressed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(data)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".zst")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(compressed)
                if self.fsync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        try:
            compressed = self.path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise BlobMissing(f"blob {digest} is missing from {self.root}") from exc
        return zstandard.ZstdDecompressor().decompress(compressed)

    def sync_dirs(self, digests: list[str]) -> None:
        """fsync the directories of new blobs so their renames survive a power loss."""
        if not self.fsync:
            return
        for parent in {self.path(d).parent for d in digests}:
            fd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def remove_partial(self) -> int:
        """Delete temporary files left by a crash; returns how many were removed."""
        removed = 0
        for tmp in self.root.glob("*/.tmp-*"):
            tmp.unlink(missing_ok=True)
            removed += 1
        return removed
