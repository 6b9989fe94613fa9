"""Where the store keeps its blobs and its index, and where the job queue is, as
analysts write them: ``s3://bucket/prefix`` and ``postgresql://user@host/database``.

Read by the config (``settings.blobs``, ``settings.store``), by the command line
(``WATCHER_BLOBS``, ``WATCHER_STORE``) and by the store itself, so all accept and
refuse the same URLs with the same words.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = [
    "BLOBS_HELP",
    "QUEUE_HELP",
    "STORE_HELP",
    "check_blobs_url",
    "check_queue_url",
    "check_store_url",
    "hide_password",
    "is_server_url",
    "parse_blobs_url",
]

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


STORE_HELP = "write postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
_STORE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_server_url(index: str | None) -> bool:
    """Whether ``index`` names a database server (else: SQLite in the data folder)."""
    return bool(index) and str(index).split("://", 1)[0].lower() in _STORE_SCHEMES


def check_store_url(url: str) -> str:
    """The URL as given, once it names a PostgreSQL database; ValueError with a
    finished sentence otherwise."""
    text = url.strip()
    if not is_server_url(text) or "://" not in text:
        raise ValueError(f"must be a postgresql:// URL, got {hide_password(text)!r}; {STORE_HELP}")
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 (a port that is no number raises here)
    except ValueError:
        raise ValueError(f"has a port that is no number: {hide_password(text)!r}") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(f"names no host: {hide_password(text)!r}; {STORE_HELP}")
    if not parts.path.strip("/"):
        raise ValueError(f"names no database: {hide_password(text)!r}; {STORE_HELP}")
    return text


def hide_password(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


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
