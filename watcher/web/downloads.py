"""What a capture's download is called and typed as: a PDF saves as ``….pdf`` and opens
in a PDF reader. Servers label attachments ``application/octet-stream`` often, so that
label is looked behind (the file's magic bytes, its name); any other stored type is
served as the server sent it."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from watcher.analysis.attachments import sniff_kind
from watcher.analysis.filelinks import extension_of
from watcher.store.index import CaptureRow

UNTYPED = {
    "",
    "application/octet-stream",
    "binary/octet-stream",
    "application/x-download",
    "application/force-download",
    "application/download",
    "application/unknown",
}
MEDIA_OF_KIND = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "wps": "application/vnd.ms-works",
    "ofd": "application/ofd",
    "zip": "application/zip",
}
EXTENSIONS = {  # where mimetypes' table says nothing or something odd
    "text/html": ".html",
    "text/plain": ".txt",
    "application/xhtml+xml": ".xhtml",
    "application/json": ".json",
    "application/vnd.ms-works": ".wps",
    "application/ofd": ".ofd",
    "application/xml": ".xml",
    "text/xml": ".xml",
}
MARKUP_STARTS = (b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")


@dataclass(frozen=True, slots=True)
class Download:
    media_type: str  # with the stored charset for text
    filename: str


def download_of(capture: CaptureRow, body: bytes) -> Download:
    """The type and file name of ``capture``'s raw bytes: the server's own file name
    (``Content-Disposition``) when it gave one, else ``<target>-<id>.<extension>``."""
    stored = (capture.content_type or "").strip()
    media = stored.split(";", 1)[0].strip().lower()
    given = str((capture.metadata or {}).get("file_name") or "")
    if media in UNTYPED:
        media = _sniffed(body, capture.final_url or capture.url, given)
        stored = media
    extension = extension_of(given) or _extension(media)
    name = given if given and extension_of(given) else f"{capture.target}-{capture.id}"
    if not extension_of(name):
        name += extension
    return Download(stored if media.startswith("text/") else media, name)


def _sniffed(body: bytes, url: str, file_name: str) -> str:
    kind = sniff_kind(body, None, url, file_name or None)
    if kind in MEDIA_OF_KIND:
        return MEDIA_OF_KIND[kind]
    if body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith(MARKUP_STARTS):
        return "text/html"
    guessed = mimetypes.guess_type(file_name or url)[0]
    return guessed or "application/octet-stream"


def _extension(media: str) -> str:
    return EXTENSIONS.get(media) or mimetypes.guess_extension(media) or ".bin"
