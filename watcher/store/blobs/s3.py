"""Blobs in an S3-compatible bucket, through obstore: ``s3://bucket/prefix/ab/cdef….zst``.

The same frames and names as the local store. A put is a HEAD, then a PUT only for
a blob not there yet (content-addressed: an existing key holds these bytes, and a
bucket that keeps versions or locks objects never sees a second write). An object
appears whole or not at all, so no temporary names are needed. Reads stream the
frame through the decompressor and the hash; a check (``watcher verify``) keeps
one chunk in memory. Every failure of the service becomes ``BlobUnavailable``
naming the bucket and key, in a sentence instead of obstore's debug dump.

Endpoint, region and credentials come from the standard ``AWS_*`` variables, read
by obstore when the store is opened; ``blobs_endpoint`` overrides the endpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from watcher.store.blobs.base import (
    READ_CHUNK,
    BlobLocation,
    BlobMissing,
    BlobUnavailable,
    blob_key,
    compress,
    read_frame,
    sha256,
)

TIMEOUT = 30.0  # seconds one request may take, connecting included
CONNECT_TIMEOUT = 5.0
RETRIES = 2  # further tries of a request that failed in a way worth retrying
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")


class S3BlobStore:
    """Blobs as objects of one bucket under one prefix; identical content is stored once."""

    def __init__(
        self,
        location: BlobLocation,
        *,
        timeout: float = TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        retries: int = RETRIES,
    ) -> None:
        try:
            from obstore.store import S3Store
        except ImportError:
            raise BlobUnavailable(
                "", location.url or "", "blobs on S3 need obstore: pip install 'watcher[s3]'"
            ) from None
        self._location = location
        self.bucket, self.prefix = location.bucket, location.prefix
        endpoint = location.endpoint or next(
            (os.environ[v] for v in _ENDPOINT_VARIABLES if os.environ.get(v)), None
        )
        self.endpoint = endpoint
        options: dict[str, Any] = {
            "timeout": _duration(timeout),  # "500ms": humantime, read by every obstore
            "connect_timeout": _duration(min(connect_timeout, timeout)),
            "allow_http": bool(endpoint and endpoint.lower().startswith("http://")),
        }
        config: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
        retry = {"max_retries": retries, "retry_timeout": timedelta(seconds=timeout)}
        try:
            self._store = S3Store(
                self.bucket,
                prefix=self.prefix or None,
                config=config,  # type: ignore[arg-type]
                client_options=options,  # type: ignore[arg-type]
                retry_config=retry,  # type: ignore[arg-type]
            )
        except Exception as exc:  # a bad AWS_* variable: obstore refuses it here
            raise BlobUnavailable(
                "", self.url(), f"cannot open {self.url()}: {_reason(exc)}"
            ) from None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def location(self) -> BlobLocation:
        return self._location

    @property
    def root(self) -> str:
        return self.url()

    def url(self, digest: str | None = None) -> str:
        """``s3://bucket/prefix`` or, with a digest, that blob's object."""
        parts = [self.bucket, self.prefix, blob_key(digest) if digest else ""]
        return "s3://" + "/".join(p for p in parts if p)

    def where(self, digest: str) -> str:
        return self.url(digest)

    def exists(self, digest: str) -> bool:
        import obstore

        try:
            obstore.head(self._store, blob_key(digest))
        except FileNotFoundError as exc:
            if _no_bucket(exc):
                raise self._unavailable(digest, "look for", exc) from None
            return False
        except Exception as exc:
            raise self._unavailable(digest, "look for", exc) from None
        return True

    def put(self, data: bytes, digest: str | None = None) -> str:
        """Store ``data`` unless present; returns its SHA-256."""
        digest = digest or sha256(data)
        if not self.exists(digest):
            self._put(digest, compress(data))
        return digest

    def put_compressed(self, digest: str, compressed: bytes) -> None:
        """Store a zstd frame compressed elsewhere (a worker process) under ``digest``."""
        if not self.exists(digest):
            self._put(digest, compressed)

    def put_frames(self, frames: Mapping[str, bytes]) -> None:
        """Store an analysis's frames side by side: a capture waits one round trip, not
        one per blob. The first failure is raised once all are done."""
        if len(frames) < 2:
            for digest, frame in frames.items():
                self.put_compressed(digest, frame)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(4, thread_name_prefix="s3-put")
        done = [self._pool.submit(self.put_compressed, d, f) for d, f in frames.items()]
        for future in done:
            future.result()

    def _put(self, digest: str, compressed: bytes) -> None:
        import obstore

        try:
            obstore.put(self._store, blob_key(digest), compressed)
        except Exception as exc:
            raise self._unavailable(digest, "store", exc) from None

    def get(self, digest: str) -> bytes:
        """The blob's bytes, streamed through the decompressor and checked against
        their SHA-256: a reader is never handed other bytes as the evidence."""
        return read_frame(self._chunks(digest), digest, self.url(digest), keep=True)

    def check(self, digest: str) -> None:
        """What ``get`` checks, one chunk in memory at a time."""
        read_frame(self._chunks(digest), digest, self.url(digest), keep=False)

    def _chunks(self, digest: str) -> Iterator[bytes]:
        import obstore

        try:
            result = obstore.get(self._store, blob_key(digest))
            for chunk in result.stream(min_chunk_size=READ_CHUNK):
                yield bytes(chunk)
        except FileNotFoundError as exc:
            if _no_bucket(exc):
                raise self._unavailable(digest, "read", exc) from None
            raise BlobMissing(
                digest, self.url(digest), f"blob {digest} is missing from {self.url()}"
            ) from None
        except Exception as exc:
            raise self._unavailable(digest, "read", exc) from None

    def sync_dirs(self, digests: list[str]) -> None:
        """Nothing to do: an object is durable once its PUT is answered."""

    def remove_partial(self, older_than: float = 3600.0) -> int:
        """Nothing to do: an object that was not completely uploaded does not exist."""
        return 0

    def _unavailable(self, digest: str, doing: str, exc: BaseException) -> BlobUnavailable:
        where = self.url(digest)
        via = f" via {self.endpoint}" if self.endpoint else ""
        return BlobUnavailable(
            digest, where, f"cannot {doing} blob {digest} at {where}{via}: {_reason(exc)}"
        )


_XML_CODE_RE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE_RE = re.compile(r"<Message>([^<]{1,300})</Message>")
_STATUS_RE = re.compile(r"status code: (\d{3} [^:]{1,60})")
_HTTP_KIND_RE = re.compile(r"HttpError \{\s*kind: (\w+)")
_OS_MESSAGE_RE = re.compile(r'message: "([^"]{1,200})"')


def _duration(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _no_bucket(exc: BaseException) -> bool:
    return "NoSuchBucket" in str(exc)


def _reason(exc: BaseException) -> str:
    """obstore's error in one short clause: the service's own code and message when it
    sent one, else what went wrong on the way (connecting, a timeout …)."""
    full = str(exc)
    text = full.split("\n\nDebug source", 1)[0]
    code, message = _XML_CODE_RE.search(text), _XML_MESSAGE_RE.search(text)
    status = _STATUS_RE.search(text)
    if code:
        said = f"{code.group(1)}: {message.group(1)}" if message else code.group(1)
        return f"{status.group(1)}, {said}" if status else said
    if status:
        return status.group(1)
    kind = _HTTP_KIND_RE.search(full)
    if kind and kind.group(1) == "Timeout":
        return "timed out"
    if kind and kind.group(1) == "Connect":
        why = _OS_MESSAGE_RE.search(full)
        return f"cannot connect ({why.group(1) if why else 'is the endpoint right?'})"
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:300]
