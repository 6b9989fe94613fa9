"""A capture as a citation an analyst pastes into a report: what the notice is (title,
发文机关, 发文字号, dates), where it was, and the evidence that it said so (when watcher
captured it, in UTC and the sites' own time, the SHA-256 of the bytes received, the
capture's permalink and its WARC file).

The plain text is the one form that must be right everywhere (an email, a Word
file, a chat); a GB/T 7714-2015 reference for an electronic resource ([EB/OL]) is
given beside it, as Chinese reports list sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watcher.config import zone_label
from watcher.export.records import Citing, notice_title
from watcher.store.index import CaptureRow

__all__ = ["Citation", "cite"]


@dataclass(frozen=True, slots=True)
class Citation:
    title: str
    issuer: str
    document_number: str
    written_date: str
    published_date: str
    url: str
    captured_at: datetime  # UTC
    captured_local: datetime
    zone: str  # the local time's name: "Beijing time"
    status: int
    sha256: str
    permalink: str
    warc: str

    def plain(self) -> str:
        """Labelled lines, the notice's facts first, then the evidence."""
        lines = [self.title]
        if self.issuer:
            lines.append(f"发文机关: {self.issuer}")
        if self.document_number:
            lines.append(f"发文字号: {self.document_number}")
        dates = [
            f"{label}: {value}"
            for label, value in (("成文日期", self.written_date), ("发布日期", self.published_date))
            if value
        ]
        if dates:
            lines.append(" · ".join(dates))
        lines += [
            f"URL: {self.url}",
            f"Captured by watcher at {self.captured_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({self.captured_local:%Y-%m-%d %H:%M:%S} {self.zone}), HTTP {self.status}, "
            f"SHA-256 {self.sha256}",
            f"Capture: {self.permalink}",
            f"WARC: {self.warc}",
        ]
        return "\n".join(lines)

    def gbt7714(self) -> str:
        """GB/T 7714-2015, electronic resource: 主要责任者. 题名: 其他题名信息[EB/OL].
        (发布日期)[引用日期]. 获取路径."""
        author = f"{self.issuer}. " if self.issuer else ""
        number = f": {self.document_number}" if self.document_number else ""
        published = f"({self.published_date[:10]})" if self.published_date else ""
        return (
            f"{author}{self.title}{number}[EB/OL]. "
            f"{published}[{self.captured_local:%Y-%m-%d}]. {self.url}."
        )


def cite(capture: CaptureRow, citing: Citing) -> Citation:
    """The citation of ``capture``: its metadata's words where the page gave them,
    the page's title otherwise."""
    md: dict[str, Any] = capture.metadata or {}
    link = citing.permalink(capture.id)
    return Citation(
        title=str(md.get("title") or notice_title(capture.title) or capture.final_url),
        issuer=str(md.get("issuer") or ""),
        document_number=str(md.get("document_number") or md.get("document_number_raw") or ""),
        written_date=str(md.get("written_date") or ""),
        published_date=str(md.get("published_date") or ""),
        url=capture.final_url or capture.url,
        captured_at=capture.fetched_at.astimezone(UTC),
        captured_local=capture.fetched_at.astimezone(citing.zone),
        zone=zone_label(citing.zone),
        status=capture.status_code,
        sha256=capture.raw_sha256,
        permalink=link,
        warc=f"{link}/warc",
    )
