"""Which links lead to a notice's attached files, and the file's name.

A link is an attachment when its path ends in a file extension notices attach
(``/P020231212.pdf``), or when one of its query parameters holds such a file name:
download scripts of Hanweb and similar CMSs name the file there
(``downfile.jsp?filename=x.pdf``, ``download.jsp?id=3&fileName=通知.docx``,
``down.do?path=/upload/x.xls``). Once fetched, a ``Content-Disposition`` file name
tells what an extension-less download is (``file_name_of``).

In the text of record, an attachment link is followed by its file name in square
brackets (``附件1：名单 [P020231212.pdf]``), so a notice that swaps the file behind an
unchanged link text shows as a change. Only attachment links get this, so a page's
ordinary links add nothing to its text; and a link whose text already ends with the
file name gets nothing (``abc.pdf``, not ``abc.pdf [abc.pdf]``). The name is the
file's own, never the whole URL: session parameters and hosts would make every
check a change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.message import Message
from urllib.parse import parse_qsl, unquote, urlsplit

from lxml import etree

__all__ = [
    "ATTACHMENT_EXTENSIONS",
    "attachment_name",
    "extension_of",
    "file_name_of",
    "is_attachment_url",
    "mark_attachment_links",
]

ATTACHMENT_EXTENSIONS: tuple[str, ...] = (
    *(".pdf", ".doc", ".docx", ".xls", ".xlsx", ".wps", ".ofd"),
    *(".zip", ".rar", ".7z", ".et", ".dps"),
)
"""Extensions of the files notices attach (``.et``/``.dps``: WPS spreadsheet/slides)."""

# A cheap test before a URL is parsed: a listing page holds hundreds of links.
_MAYBE = re.compile(
    r"\.(?:pdf|docx?|xlsx?|wps|ofd|zip|rar|7z|et|dps)(?:$|[?#;&/\"'\s]|%22)", re.IGNORECASE
)


def extension_of(name: str | None) -> str:
    """The lower-case extension of a file name or path ("" if none)."""
    if not name:
        return ""
    last = re.split(r"[/\\]", name.strip())[-1].split(";", 1)[0].strip().lower()
    return last[last.rindex(".") :] if "." in last else ""


def _last_segment(path: str) -> str:
    return re.split(r"[/\\]", unquote(path))[-1].split(";", 1)[0].strip()


def attachment_name(url: str | None) -> str | None:
    """The file name an attachment link names, from its path or, for a download
    script, from the query parameter holding it; None if the link is no attachment."""
    if not url or not _MAYBE.search(url):
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    name = _last_segment(parts.path)
    if extension_of(name) in ATTACHMENT_EXTENSIONS:
        return name
    for _key, value in parse_qsl(parts.query, keep_blank_values=False):
        name = _last_segment(value.split("?", 1)[0])
        if extension_of(name) in ATTACHMENT_EXTENSIONS:
            return name
    return None


def is_attachment_url(url: str) -> bool:
    """A link to a file a notice attaches: by its path's extension, or a query
    parameter that holds a file name with one (download scripts). Download
    endpoints naming no file (``download.jsp?id=3``) are not guessed."""
    return attachment_name(url) is not None


def file_name_of(content_disposition: str | None) -> str | None:
    """The file name in a ``Content-Disposition`` header (``filename*`` first), or None.

    Servers of Chinese sites often send the name as raw UTF-8 or GBK bytes, which
    arrive as Latin-1 characters; they are decoded again, and %-escapes undone.
    """
    if not content_disposition:
        return None
    message = Message()
    message["content-disposition"] = content_disposition
    try:
        name = message.get_filename()
    except Exception:  # a malformed header names no file
        return None
    if not name:
        return None
    name = _undo_latin1(unquote(name.strip().strip("\"'")))
    return _last_segment(name) or None


def _undo_latin1(name: str) -> str:
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        return name  # real characters already
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


def mark_attachment_links(regions: Iterable[etree._Element]) -> None:
    """Add `` [file name]`` after each attachment link's text, in place (see above)."""
    for region in regions:
        for anchor in region.iter("a"):
            name = attachment_name(anchor.get("href"))
            if name is None:
                continue
            shown = "".join("".join(anchor.itertext()).split())
            if shown.lower().endswith("".join(name.split()).lower()):
                continue
            _append(anchor, f" [{name}]")


def _append(anchor: etree._Element, text: str) -> None:
    """Text at the end of the anchor (after its last child), inside the link."""
    try:
        if len(anchor):
            last = anchor[-1]
            last.tail = (last.tail or "") + text
        else:
            anchor.text = (anchor.text or "") + text
    except ValueError:  # characters lxml refuses to set (controls): leave the link as is
        return
