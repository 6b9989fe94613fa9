"""What both blob stores share: the interface, its errors, the frame check, where
the blobs are."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import zstandard

ZSTD_LEVEL = 3  # zstd default: 4x faster than 9 for 10% more bytes (bench/stages.py)
READ_CHUNK = 1 << 20  # bytes read at a time when a blob is checked or streamed


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_local = threading.local()  # zstd contexts are not thread-safe: one per thread


def compress(data: bytes) -> bytes:
    """zstd at ZSTD_LEVEL, reusing this thread's compression context."""
    compressor = getattr(_local, "zstd", None)
    if compressor is None:
        compressor = _local.zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return compressor.compress(data)


def blob_key(digest: str) -> str:
    """A blob's name inside the store: the same layout in a folder and in a bucket."""
    return f"{digest[:2]}/{digest[2:]}.zst"


class BlobError(Exception):
    """A blob cannot be given back as the evidence it was stored as.

    ``path`` is where it is: a file, or ``s3://bucket/key``."""

    def __init__(self, digest: str, path: Path | str, message: str) -> None:
        super().__init__(message)
        self.digest = digest
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:  # raised in worker processes, re-raised here
        return (type(self), (self.digest, self.path, str(self)))


class BlobMissing(BlobError):
    """A capture refers to a blob that is not in the store."""


class BlobUnavailable(BlobError):
    """The blob store did not answer as a store should (unreachable, timed out, refused,
    no such bucket): nothing is known about the blob itself, and nothing was written
    to the index for a blob that could not be stored."""


class DamagedBlob(BlobError):
    """The blob's bytes are not the ones stored under that SHA-256 (flipped bits, a
    truncated frame, other bytes put in its place).

    ``reason`` is said without the file's path, for pages a visitor sees."""

    def __init__(self, digest: str, path: Path | str, reason: str) -> None:
        super().__init__(digest, path, f"blob {digest} is damaged: {reason} ({path})")
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.digest, self.path, self.reason))


def read_frame(chunks: Iterable[bytes], digest: str, where: Path | str, *, keep: bool) -> bytes:
    """Decompress a zstd frame a chunk at a time and check it against ``digest``; the
    content when ``keep``, else nothing is held but a chunk in and a chunk out
    (``watcher verify``), however well the frame compressed."""
    source = _Source(chunks)
    hashed = hashlib.sha256()
    parts: list[bytes] = []
    size = 0
    try:
        expected = zstandard.get_frame_parameters(source.peek()).content_size
        with zstandard.ZstdDecompressor().stream_reader(source, read_size=READ_CHUNK) as frame:
            while size != expected and (out := frame.read(READ_CHUNK)):
                hashed.update(out)
                size += len(out)
                if keep:
                    parts.append(out)
    except zstandard.ZstdError as exc:
        raise DamagedBlob(digest, where, f"not a readable zstd frame ({exc})") from None
    if expected not in (zstandard.CONTENTSIZE_UNKNOWN, size):
        reason = f"not a readable zstd frame (it ends after {size} of {expected} bytes)"
        raise DamagedBlob(digest, where, reason)
    if hashed.hexdigest() != digest:
        raise DamagedBlob(digest, where, "the stored bytes no longer match their SHA-256")
    return b"".join(parts)


class _Source:
    """Chunks as the file-like object zstd's stream reader reads from."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = b""

    def peek(self) -> bytes:
        """The first bytes (a frame's header), still to be read."""
        while len(self._left) < 18 and (more := next(self._chunks, b"")):
            self._left += more
        return self._left

    def read(self, size: int = -1) -> bytes:
        if not self._left:
            self._left = next(self._chunks, b"")
        if size < 0 or size >= len(self._left):
            out, self._left = self._left, b""
        else:
            out, self._left = self._left[:size], self._left[size:]
        return out


class BlobStore(Protocol):
    """What the store, the analysis workers and the readers need of blobs."""

    @property
    def location(self) -> BlobLocation: ...
    def put(self, data: bytes, digest: str | None = None) -> str: ...
    def put_frames(self, frames: Mapping[str, bytes]) -> None: ...
    def get(self, digest: str) -> bytes: ...
    def check(self, digest: str) -> None: ...
    def exists(self, digest: str) -> bool: ...
    def where(self, digest: str) -> str: ...
    def sync_dirs(self, digests: list[str]) -> None: ...
    def remove_partial(self, older_than: float = 3600.0) -> int: ...


@dataclass(frozen=True, slots=True)
class BlobLocation:
    """Where the blobs are: a folder (``root``), or a bucket and prefix when ``url`` is
    an ``s3://`` URL; ``endpoint`` for a store other than AWS's (MinIO …)."""

    root: Path | None = None
    url: str | None = None
    endpoint: str | None = None
    fsync: bool = True

    @property
    def bucket(self) -> str:
        from watcher.config.storage import parse_blobs_url  # not in analysis workers: pydantic

        return parse_blobs_url(self.url or "")[0]

    @property
    def prefix(self) -> str:
        from watcher.config.storage import parse_blobs_url

        return parse_blobs_url(self.url or "")[1]
