"""Content-addressed, zstd-compressed blobs named by the SHA-256 of their content.

One interface, two homes: files under the data folder (``local.py``, the default)
or an S3-compatible bucket (``s3.py``, a team's store). Both keep a blob as one zstd
frame under ``ab/cdef….zst``, write it before its index row (a reader never meets
a row whose blob is partial), and check every read against the SHA-256 it is named
by. ``BlobLocation`` says where the blobs are in a picklable form, so a worker
process opens the same store.
"""

from __future__ import annotations

from pathlib import Path

from watcher.store.blobs.base import (
    READ_CHUNK,
    ZSTD_LEVEL,
    BlobError,
    BlobLocation,
    BlobMissing,
    BlobStore,
    BlobUnavailable,
    DamagedBlob,
    blob_key,
    compress,
    read_frame,
    sha256,
)
from watcher.store.blobs.local import LocalBlobStore


def local_location(root: Path, *, fsync: bool = True) -> BlobLocation:
    return BlobLocation(root=root, fsync=fsync)


def open_blobs(location: BlobLocation) -> BlobStore:
    """The blob store at ``location``; obstore is imported only for a bucket."""
    if location.url is None:
        assert location.root is not None, "a local blob store needs its folder"
        return LocalBlobStore(location.root, fsync=location.fsync)
    from watcher.store.blobs.s3 import S3BlobStore

    return S3BlobStore(location)


__all__ = [
    "READ_CHUNK",
    "ZSTD_LEVEL",
    "BlobError",
    "BlobLocation",
    "BlobMissing",
    "BlobStore",
    "BlobUnavailable",
    "DamagedBlob",
    "LocalBlobStore",
    "blob_key",
    "compress",
    "local_location",
    "open_blobs",
    "read_frame",
    "sha256",
]
