"""Where a test's blobs live: the data folder, or a bucket on the local moto server.

The same few moves on both (list the stored blobs, read a frame, replace or delete
one behind the store's back), so a test of the blob interface runs on each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s3server import S3Server

from watcher.store.blobs import BlobLocation, local_location


@dataclass
class LocalHome:
    """Blobs as files under ``root``."""

    root: Path
    kind = "local"

    @property
    def location(self) -> BlobLocation:
        return local_location(self.root, fsync=False)

    def names(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*.zst"))

    def frame(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def replace(self, digest: str, frame: bytes) -> None:
        self._path(digest).write_bytes(frame)

    def delete(self, digest: str) -> None:
        self._path(digest).unlink()

    def where(self, digest: str) -> str:
        return str(self._path(digest))

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest[2:]}.zst"


@dataclass
class S3Home:
    """Blobs as objects of ``bucket`` under ``prefix`` on the local moto server."""

    server: S3Server
    bucket: str
    prefix: str = "watcher/blobs"
    kind = "s3"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def location(self) -> BlobLocation:
        return BlobLocation(url=self.url, endpoint=self.server.endpoint)

    def names(self) -> list[str]:
        cut = len(self.prefix) + 1 if self.prefix else 0
        return [k[cut:] for k in self.server.keys(self.bucket)]

    def frame(self, digest: str) -> bytes:
        return self.server.read(self.bucket, self.server.key(self.prefix, digest))

    def replace(self, digest: str, frame: bytes) -> None:
        self.server.write(self.bucket, self.server.key(self.prefix, digest), frame)

    def delete(self, digest: str) -> None:
        self.server.delete(self.bucket, self.server.key(self.prefix, digest))

    def where(self, digest: str) -> str:
        return f"{self.url}/{digest[:2]}/{digest[2:]}.zst"


BlobHome = LocalHome | S3Home
