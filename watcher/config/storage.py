"""Where the store keeps its blobs, as analysts write it: ``s3://bucket/prefix``; and
where the job queue is: ``postgresql://…``.

Read by the config (``settings.blobs``), by the command line (``WATCHER_BLOBS``)
and by the blob store itself, so all three accept and refuse the same URLs with
the same words.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["BLOBS_HELP", "QUEUE_HELP", "check_blobs_url", "check_queue_url", "parse_blobs_url"]

BLOBS_HELP = "write s3://BUCKET or s3://BUCKET/PREFIX, e.g. s3://watcher-evidence/captures"
# S3's rules for bucket names: 3 to 63 of a-z 0-9 . -, a letter or digit at each end
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART_RE = re.compile(r"[A-Za-z0-9!_.*'()-]+")


def parse_blobs_url(url: str) -> tuple[str, str]:
    """The bucket and the prefix (no slashes at its ends, may be empty) of an
    ``s3://`` URL; ValueError with a finished sentence for anything else."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() != "s3" or not text.lower().startswith("s3://"):
        raise ValueError(f"must be an s3:// URL, got {url!r}; {BLOBS_HELP}")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(
            f"must be s3://BUCKET/PREFIX without credentials, port, '?' or '#', got {url!r}"
            " (the endpoint goes in blobs_endpoint, credentials in AWS_* variables)"
        )
    bucket = parts.netloc
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            f"names no valid bucket: {bucket!r} (3 to 63 lowercase letters, digits, '.' "
            f"and '-', starting and ending with a letter or digit); {BLOBS_HELP}"
        )
    prefix = parts.path.strip("/")
    for part in prefix.split("/") if prefix else ():
        if not _PREFIX_PART_RE.fullmatch(part) or part in (".", ".."):
            raise ValueError(
                f"has a prefix S3 keys should not have: {prefix!r} (use letters, digits and "
                "!_.*'()- between single slashes)"
            )
    return bucket, prefix


def check_blobs_url(url: str) -> str:
    """The URL as given, once ``parse_blobs_url`` accepts it (a pydantic check)."""
    parse_blobs_url(url)
    return url.strip()


QUEUE_HELP = "write postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def check_queue_url(url: str) -> str:
    """The job queue's PostgreSQL URL (``settings.queue``, ``WATCHER_QUEUE``), as given."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("postgresql", "postgres") or not parts.netloc:
        raise ValueError(f"must be a postgresql:// URL, got {url!r}; {QUEUE_HELP}")
    if not parts.path.strip("/"):
        raise ValueError(f"names no database: {url!r}; {QUEUE_HELP}")
    return text
