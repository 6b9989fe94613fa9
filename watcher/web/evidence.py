"""What the web says when a capture's stored bytes cannot be given back as they were
stored (the store checks every blob against its SHA-256), and header values made
safe to send: stored headers are the server's, in whatever bytes it chose."""

from __future__ import annotations

import string
from urllib.parse import quote

from fastapi.responses import PlainTextResponse

from watcher.store.blobs import BlobError, BlobMissing, DamagedBlob
from watcher.store.index import CaptureRow

DAMAGED_STATUS = 500  # the server cannot give what it holds; not 410: a backup restores it
_PRINTABLE = "".join(c for c in string.printable if c not in "%\t\n\r\x0b\x0c")


def notice(capture: CaptureRow, what: str, exc: BlobError) -> str:
    """Names the capture, the part and the blob, never the file's path (a visitor
    need not learn the server's folders); nothing is shown in the evidence's place."""
    where = f"the {what} of capture {capture.id} ({capture.target}), blob {exc.digest}"
    if isinstance(exc, BlobMissing):
        return (
            f"missing evidence: {where}, is not in the store; `watcher verify` lists what is lost"
        )
    reason = exc.reason if isinstance(exc, DamagedBlob) else str(exc)
    return (
        f"damaged evidence: {where}, cannot be shown: {reason}. Nothing is shown in its "
        "place; `watcher verify` lists the damage, and the blob file can be restored "
        "from a backup"
    )


def damaged_response(capture: CaptureRow, what: str, exc: BlobError) -> PlainTextResponse:
    """The plain answer of /raw, /download and the screenshot for unsound bytes: an
    error status, so no client saves the explanation as the original."""
    return PlainTextResponse(
        notice(capture, what, exc) + "\n",
        status_code=DAMAGED_STATUS,
        headers={"Cache-Control": "no-store"},
    )


def header_value(value: str) -> str:
    """A stored header value as ASCII: anything else (UTF-8 a server sent, control
    characters) percent-encoded as UTF-8, so it reads back with ``unquote``."""
    return quote(value, safe=_PRINTABLE)


def attachment(filename: str) -> str:
    """Content-Disposition for ``filename``: an ASCII name for every client, and the
    exact one in RFC 5987 form when it is not ASCII."""
    fallback = "".join(c if c in _PRINTABLE and c not in '"\\' else "_" for c in filename)
    if fallback == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
