"""Blobs as files under the data folder: ``blobs/ab/cdef….zst``.

A blob is written to a temporary file, fsynced and renamed into place, so a
reader (or a crash) never sees a partial blob under its final name.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import zstandard

from watcher.store.blobs.base import (
    READ_CHUNK,
    BlobLocation,
    BlobMissing,
    DamagedBlob,
    blob_key,
    compress,
    read_frame,
    sha256,
)


class LocalBlobStore:
    """Blobs under ``root/ab/cdef….zst``; identical content is stored once."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self._dirs: set[Path] = set()  # folders known to exist
        self._seq = itertools.count()

    @property
    def location(self) -> BlobLocation:
        return BlobLocation(root=self.root, fsync=self.fsync)

    def path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def where(self, digest: str) -> str:
        return str(self.path(digest))

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data`` unless present; returns its SHA-256. Safe to call concurrently."""
        digest = digest or sha256(data)
        if not self.path(digest).is_file():
            self.put_compressed(digest, compress(data))
        return digest

    def put_compressed(self, digest: str, compressed: bytes) -> None:
        """Store a zstd frame compressed elsewhere (a worker process) under ``digest``.

        Plain ``os`` calls, about six system calls a blob: file creation is the
        costly part of storing a capture on some machines (measured: tempfile and
        buffered files tripled the system calls and the time).
        """
        target = self.path(digest)
        if os.path.isfile(target):
            return
        if target.parent not in self._dirs:
            if not target.parent.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                self._fsync_dir(target.parent.parent)  # the new folder's own entry
            self._dirs.add(target.parent)
        tmp = target.parent / f".tmp-{os.getpid()}-{threading.get_ident()}-{next(self._seq)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(compressed)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, target)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            tmp.unlink(missing_ok=True)
            raise

    def put_frames(self, frames: Mapping[str, bytes]) -> None:
        """Store zstd frames (digest → frame) made by an analysis, then their folders."""
        for digest, frame in frames.items():
            self.put_compressed(digest, frame)
        self.sync_dirs(list(frames))

    def get(self, digest: str) -> bytes:
        """The blob's bytes, checked against their SHA-256 on every read: a reader is
        never handed other bytes as the evidence (hashing: about 1 ms a MB, bench/blobs.py)."""
        path = self.path(digest)
        try:
            compressed = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobMissing(digest, path, f"blob {digest} is missing from {self.root}") from exc
        try:
            data = zstandard.ZstdDecompressor().decompress(compressed)
        except zstandard.ZstdError as exc:
            raise DamagedBlob(digest, path, f"not a readable zstd frame ({exc})") from None
        if sha256(data) != digest:
            raise DamagedBlob(digest, path, "the stored bytes no longer match their SHA-256")
        return data

    def check(self, digest: str) -> None:
        """Read and hash the blob a chunk at a time: what ``get`` checks, in bounded memory."""
        path = self.path(digest)
        read_frame(self._chunks(digest, path), digest, path, keep=False)

    def _chunks(self, digest: str, path: Path) -> Iterator[bytes]:
        try:
            with open(path, "rb") as file:
                while chunk := file.read(READ_CHUNK):
                    yield chunk
        except FileNotFoundError as exc:
            raise BlobMissing(digest, path, f"blob {digest} is missing from {self.root}") from exc

    def sync_dirs(self, digests: list[str]) -> None:
        """fsync the directories of new blobs so their renames survive a power loss."""
        if not self.fsync:
            return
        for parent in {self.path(d).parent for d in digests}:
            self._fsync_dir(parent)

    def _fsync_dir(self, folder: Path) -> None:
        if not self.fsync:
            return
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove_partial(self, older_than: float = 3600.0) -> int:
        """Delete temporary files left by a crash; returns how many were removed.

        Only old ones: another watcher process may be writing the young ones now.
        """
        removed = 0
        cutoff = time.time() - older_than
        for tmp in self.root.glob("*/.tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
        return removed
