"""Citable metadata of a Chinese official notice: 发文字号, 发文机关, dates, 索引号, 主题分类.

Analysts cite a notice by its document number and dates, and those can change
silently (gov.cn's ``lastmodifiedtime`` moves when a page is revised with no
changelog), so they are kept apart from the compared body text and each field
records where it came from.

Sources, most trusted first:

1. ``table``: label/value pairs in tables and definition lists (gov.cn's
   ``table.bd1``: ``<td><b>发文字号：</b></td><td>国发〔2018〕43号</td>``);
2. ``meta:<name>``: ``<meta>`` tags (``PubDate``, ``firstpublishedtime``,
   ``lastmodifiedtime``, ``ArticleTitle``, ``ContentSource``, ...);
3. ``text``: labels elsewhere on the page (``<span>发布日期：2016-11-22</span>``)
   or in the first ~5,000 characters of the body text, and a document number
   standing alone on a line there (the line under a notice's title);
   ``text:signature``: the issuer and date that close a notice
   (``国务院`` / ``2018年12月21日``).

A field keeps the value of the most trusted source that has one. A label seen
with three or more different values in one source (a listing page, where every
row has its own ``发布时间``) gives nothing, rather than the first row's value.

Dates are ISO strings: ``YYYY-MM-DD``, or ``YYYY-MM-DDTHH:MM[:SS]`` when the
source gives a time (meta tags usually do; times are as written, Beijing time,
no zone). ``MakeTime``/``Maketime`` and gov.cn's ``页面生成时间`` are page
regeneration times, not publication or revision times, and are not used.

``extract_metadata`` never raises: broken or hostile input gives empty (or
partial) metadata. It reads the tree that extraction parses (``MetadataReader``:
once with its ``<head>``, then as a reader sees it, without scripts or hidden
elements), walks it without Python recursion, and uses only regexes that cannot
backtrack catastrophically.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields

from lxml import etree

from watcher.analysis.extract import page_tree

__all__ = [
    "MetadataReader",
    "NoticeMetadata",
    "document_numbers_in",
    "extract_metadata",
    "merge_listed",
    "normalize_date",
    "normalize_document_number",
]


@dataclass(frozen=True)
class NoticeMetadata:
    """What a citation of a notice needs; every field is optional because pages vary.

    ``title`` and ``source`` (信息来源: a newspaper, 新华社 or a department for
    reposts) are kept apart from ``issuer`` (发文机关), which they often are not.
    """

    document_number: str | None = None  # 发文字号, brackets normalised: 国办发〔2024〕5号
    document_number_raw: str | None = None  # as written on the page: 国办发[2024]5号
    issuer: str | None = None  # 发文机关
    written_date: str | None = None  # 成文日期
    published_date: str | None = None  # 发布日期
    index_number: str | None = None  # 索引号
    topic: str | None = None  # 主题分类
    validity: str | None = None  # 有效性 / 时效性: 有效, 失效, 废止 …
    last_modified: str | None = None  # meta lastmodifiedtime: a change here is a change
    title: str | None = None  # 标题 / meta ArticleTitle
    source: str | None = None  # 信息来源 / meta ContentSource
    sources: dict[str, str] = field(default_factory=dict, hash=False)  # field -> origin

    def to_json(self) -> dict[str, object]:
        """Only the fields that are set, so stored snapshots stay small and diffable."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                out[f.name] = dict(value) if isinstance(value, dict) else value
        return out


def extract_metadata(html: str, text: str | None = None) -> NoticeMetadata:
    """Metadata of a notice page; ``text`` (its extracted body text) replaces our own.

    ``html`` is already decoded. Never raises: unusable input gives empty metadata.
    A page that is being extracted is better read by a ``MetadataReader`` handed to
    the extraction, which parses it once for both.
    """
    reader = MetadataReader()
    root = None
    try:
        html = html if isinstance(html, str) else _as_str(html)
        root = page_tree(html, reader)[0] if html else None
    except Exception:
        root = None
    try:
        if not isinstance(text, str):
            text = _as_str(text) if text is not None else _body_text(_roots(root))
    except Exception:
        text = ""
    return reader.result(text)


class MetadataReader:
    """Reads a notice's metadata from the tree its text is extracted from
    (``extract.TreeReader``), then from that text (``result``).

    Each step is guarded on its own, so one failing keeps what the others found:
    metadata is a bonus and must never fail a check.
    """

    def __init__(self) -> None:
        self._found = _Found()

    def whole(self, root: etree._Element) -> None:
        with contextlib.suppress(Exception):
            _from_meta(self._found, _roots(root))

    def shown(self, root: etree._Element) -> None:
        dates: list[etree._Element] = []
        with contextlib.suppress(Exception):
            dates = _from_labelled_elements(self._found, _roots(root))
        with contextlib.suppress(Exception):
            _info_line_dates(self._found, dates)

    def result(self, text: str) -> NoticeMetadata:
        """The metadata, with what the page's body ``text`` says."""
        with contextlib.suppress(Exception):
            _from_text(self._found, text)
        try:
            return self._found.result()
        except Exception:
            return NoticeMetadata()


def _roots(root: etree._Element | None) -> list[etree._Element]:
    return [root] if root is not None else []


def normalize_document_number(raw: str) -> str | None:
    """``工信部联规[2022]12号`` -> ``工信部联规〔2022〕12号``; None if it is not one.

    The canonical form (GB/T 9704) lets numbers from different sources (page,
    gov.cn search API ``pcode``, a citation in another notice) be compared.
    """
    if not isinstance(raw, str):
        return None
    compact = _normalise_chars(_clean(raw[:_MAX_VALUE])).replace(" ", "")
    if not any(form.fullmatch(compact) for form in _NUMBER_FORMS):
        return None  # the whole string must be the number, not a sentence around it
    match = _find_document_number(compact)
    return match[0] if match else None


def document_numbers_in(text: str) -> Iterator[tuple[str, int, int]]:
    """Every document number in running text, normalised, with its span: what a
    notice cites (``依据《…》（工信部规〔2022〕12号）``). The organ prefix is cut after
    the words that run into it (``依据``, ``和``, ``号`` …), organ names kept whole."""
    found = []
    for left, right in _number_windows(text):
        norm = _normalise_chars(text[left:right])
        for form in _NUMBER_FORMS:
            for match in form.finditer(norm):
                start = match.start() + _lead_in(match["prefix"])
                number = _find_document_number(norm[start : match.end()])
                if number is not None:
                    found.append((number[0], left + start, left + match.end()))
    yield from sorted(found, key=lambda f: f[1])


_NUMBER_REACH = 72  # characters before its 号 that a number can start (prefix ≤ 30 and more)


def _number_windows(text: str) -> Iterator[tuple[int, int]]:
    """The stretches of ``text`` that may hold a number: every form ends in 号, so
    only the characters before each 号 are scanned (the forms' patterns try up to 30
    characters at every Hanzi; a 10,000-character page has few 号). Overlapping
    stretches are merged, so a number is found once and whole."""
    left = right = -1
    at = text.find("号")
    while at != -1:
        start = max(0, at - _NUMBER_REACH)
        if start > right:
            if right != -1:
                yield left, right
            left = start
        right = at + 1
        at = text.find("号", at + 1)
    if right != -1:
        yield left, right


_ORGANS_WITH_FILLERS = re.compile(
    "工业和信息化|住房和城乡建设|人力资源和社会保障|文化和旅游|卫生和计划生育|科学技术和工业"
)
_LEAD_IN = re.compile(
    "(?:依据|根据|按照|参照|贯彻|落实|转发|印发|执行|关于|和|及|与|的|号|见|为|将)"
)


def _lead_in(prefix: str) -> int:
    """How many characters of a number's prefix are the sentence, not the organ."""
    masked = _ORGANS_WITH_FILLERS.sub(lambda m: "\ue000" * len(m[0]), prefix)
    cut = 0
    for match in _LEAD_IN.finditer(masked):
        cut = match.end()
    return cut if cut < len(prefix) else 0


def normalize_date(raw: str) -> str | None:
    """The first date in ``raw`` as the ISO string metadata uses (``2024.04.22`` ->
    ``2024-04-22``), or None: listings write dates their own way."""
    if not isinstance(raw, str):
        return None
    return _parse_date(_normalise_chars(_clean(raw[:_MAX_VALUE])))


LISTED_PREFIX = "listing_"


def merge_listed(
    page: Mapping[str, str] | None, listed: Mapping[str, str] | None
) -> dict[str, str] | None:
    """A document's metadata: its own page's, and what its listing said of it.

    The page wins where both give a field: it is the document itself. The listing's
    values are kept under ``listing_<key>`` all the same, so a listing that
    disagrees with its page (another 发文字号, another date) stays visible; a field
    only the listing gives is also the document's.
    """
    merged = dict(page or {})
    for key, value in (listed or {}).items():
        merged[LISTED_PREFIX + key] = value
        merged.setdefault(key, value)
    return merged or None


# --- characters -----------------------------------------------------------------------

# One-for-one replacements, so offsets in the normalised text are offsets in the
# original (the raw document number is cut from the original at the same place).
_CHAR_MAP = {ord("０") + i: ord("0") + i for i in range(10)}
_CHAR_MAP.update({ord(c): ord(" ") for c in "\t\r\f\v\xa0\u1680\u202f\u205f\u3000"})
_CHAR_MAP.update({cp: ord(" ") for cp in range(0x2000, 0x200E)})  # en/em/thin/zero-width
_CHAR_MAP.update({ord(c): ord(" ") for c in "\u2060\ufeff\u00ad\x85\u2028\u2029"})
_CHAR_MAP.update({ord("－"): ord("-"), ord("／"): ord("/"), ord("．"): ord(".")})
_CHAR_MAP.update({ord("\x00"): ord(" ")})

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_MAX_VALUE = 200  # longer "values" are prose, not metadata
_MAX_LABEL_ELEMENT = 200  # characters (a space counts a tenth) of a label element
_TEXT_WINDOW = 5_000  # characters of body text scanned for labels and the number
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")


_NEEDS_MAP = re.compile("[" + "".join(re.escape(chr(cp)) for cp in _CHAR_MAP) + "]")


def _normalise_chars(s: str) -> str:
    # str.translate with a dict goes through Python per character; most text needs nothing
    return s.translate(_CHAR_MAP) if _NEEDS_MAP.search(s) else s


def _clean(s: str | None) -> str:
    """One line as written (full-width digits kept), whitespace collapsed, stripped."""
    if not s:
        return ""
    return " ".join(_INVISIBLE.sub("", s).split())  # split(): what \s+ matches, in C


def _as_str(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return ""


# --- values ---------------------------------------------------------------------------

_L_BRACKETS = "〔\\[（［(【〖﹝"
_R_BRACKETS = "〕\\]）］)】〗﹞"
# Bounded quantifiers and single-character classes only: at most ~20 steps of
# backtracking per start position.
_DOCUMENT_NUMBER = re.compile(
    f"(?P<prefix>[{_CJK}]{{1,20}}) ?[{_L_BRACKETS}] ?(?P<year>(?:19|20)\\d\\d) ?"
    f"[{_R_BRACKETS}] ?(?:第 ?)?(?P<num>\\d{{1,6}}) ?号"
)
# Decrees have no year: 国务院令第750号, 工业和信息化部令第61号.
_DECREE_NUMBER = re.compile(f"(?P<prefix>[{_CJK}]{{1,30}}令) ?第 ?(?P<num>\\d{{1,6}}) ?号")
# Announcements number by year: 工业和信息化部公告2022年第8号.
_NOTICE_NUMBER = re.compile(
    f"(?P<prefix>[{_CJK}]{{1,30}}公告) ?(?P<year>(?:19|20)\\d\\d) ?年 ?第 ?(?P<num>\\d{{1,6}}) ?号"
)
_NUMBER_FORMS = (_DOCUMENT_NUMBER, _DECREE_NUMBER, _NOTICE_NUMBER)

_DATE = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d\d) ?(?:"
    r"年 ?(?P<m1>\d{1,2}) ?月 ?(?P<d1>\d{1,2})(?!\d) ?日?"
    r"|(?P<sep>[-/.])(?P<m2>\d{1,2})(?P=sep)(?P<d2>\d{1,2})(?!\d))"
    r"(?:(?: ?T ?| +|-)(?P<H>\d{1,2})[:：](?P<M>\d\d)(?:[:：](?P<S>\d\d))?(?!\d))?"
)
_CN_DIGITS = "〇○零Ｏ0一二三四五六七八九"
_CN_DATE = re.compile(
    f"(?P<y>[{_CN_DIGITS}]{{4}}) ?年 ?(?P<m>[一二三四五六七八九十]{{1,3}}) ?月"
    r" ?(?P<d>[一二三四五六七八九十]{1,3}) ?日"
)
_CN_VALUE = {**{c: 0 for c in "〇○零Ｏ0"}, **{c: i + 1 for i, c in enumerate("一二三四五六七八九")}}

_NULL_VALUES = frozenset({"无", "暂无", "/", "-", "--", "—", "——", "空", "null", "none"})


def _find_document_number(s: str) -> tuple[str, int, int] | None:
    """(normalised number, start, end) of the first document number in normalised ``s``."""
    match = _DOCUMENT_NUMBER.search(s)
    if match:
        number = f"{match['prefix']}〔{match['year']}〕{int(match['num'])}号"
        return number, match.start(), match.end()
    match = _NOTICE_NUMBER.search(s)
    if match:
        number = f"{match['prefix']}{match['year']}年第{int(match['num'])}号"
        return number, match.start(), match.end()
    match = _DECREE_NUMBER.search(s)
    if match:
        return f"{match['prefix']}第{int(match['num'])}号", match.start(), match.end()
    return None


def _document_number_value(value: str) -> tuple[str, str] | None:
    """(normalised, raw) from a labelled value; the raw part is cut from the original."""
    norm = _normalise_chars(value)
    found = _find_document_number(norm)
    if found is None:
        return None
    number, start, end = found
    return number, _clean(value[start:end])


def _parse_date(value: str) -> str | None:
    """The first date in ``value`` (normalised characters) as an ISO string, or None."""
    match = _DATE.search(value)
    if match:
        month = match["m1"] or match["m2"]
        day = match["d1"] or match["d2"]
        iso = _iso_date(int(match["y"]), int(month), int(day))
        if iso is None:
            return None
        if match["H"] is not None:
            hour, minute = int(match["H"]), int(match["M"])
            second = int(match["S"]) if match["S"] is not None else None
            if hour > 23 or minute > 59 or (second is not None and second > 59):
                return iso
            iso += f"T{hour:02d}:{minute:02d}"
            if second is not None:
                iso += f":{second:02d}"
        return iso
    match = _CN_DATE.search(value)
    if match:
        year = int("".join(str(_CN_VALUE[c]) for c in match["y"]))
        month, day = _cn_number(match["m"]), _cn_number(match["d"])
        if month is None or day is None:
            return None
        return _iso_date(year, month, day)
    return None


def _cn_number(s: str) -> int | None:
    """一..三十一 -> 1..31."""
    if "十" not in s:
        return _CN_VALUE.get(s) if len(s) == 1 else None
    tens, _, units = s.partition("十")
    if len(tens) > 1 or len(units) > 1 or "十" in units:
        return None
    return (_CN_VALUE.get(tens, 0) if tens else 1) * 10 + (_CN_VALUE.get(units, 0) if units else 0)


def _iso_date(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _text_value(value: str) -> str | None:
    value = _clean(value).strip(" |:：,，;；")
    if not value or value.lower() in _NULL_VALUES or len(value) > _MAX_VALUE:
        return None
    return value


# --- labels ---------------------------------------------------------------------------

_DATE_FIELDS = frozenset({"written_date", "published_date"})

# label -> (field, rank). Lower rank wins within a source; the rest by page order.
_LABELS: dict[str, tuple[str, int]] = {
    **dict.fromkeys(("发文字号", "发文文号"), ("document_number", 0)),
    "文号": ("document_number", 1),
    **dict.fromkeys(("发文机关", "发文单位", "发文机构", "发文部门"), ("issuer", 0)),
    **dict.fromkeys(("制发机关", "制发单位", "成文机关"), ("issuer", 0)),
    **dict.fromkeys(("发布机构", "发布机关", "发布单位"), ("issuer", 1)),
    **dict.fromkeys(("成文日期", "成文时间", "印发日期"), ("written_date", 0)),
    "发文日期": ("written_date", 1),
    **dict.fromkeys(("发布日期", "发布时间", "公开日期", "公开时间"), ("published_date", 0)),
    **dict.fromkeys(("日期", "时间"), ("published_date", 1)),
    **dict.fromkeys(("索引号", "信息索引号"), ("index_number", 0)),
    **dict.fromkeys(("主题分类", "主题类别"), ("topic", 0)),
    **dict.fromkeys(("有效性", "时效性", "效力状态"), ("validity", 0)),
    **dict.fromkeys(("标题", "文件标题"), ("title", 0)),
    **dict.fromkeys(("信息来源", "文章来源", "稿件来源"), ("source", 0)),
    "来源": ("source", 1),
}
# Short, common words: a label only when no Hanzi is glued in front ("截止日期" is
# not a 日期 label) and, unless a date follows, only with a colon.
_GENERIC_LABELS = ("日期", "时间", "文号", "来源", "标题")


def _spaced(label: str) -> str:
    """``索引号`` also as ``索 引 号`` (templates pad labels to one width)."""
    return " ?".join(re.escape(c) for c in label)


_LABEL = re.compile(
    "(?P<label>"
    + "|".join(_spaced(lb) for lb in sorted(set(_LABELS) - set(_GENERIC_LABELS), key=len)[::-1])
    + f"|(?<![{_CJK}])(?:"
    + "|".join(_spaced(lb) for lb in _GENERIC_LABELS)
    + "))"
    r" ?(?P<colon>[:：])?"
)
_LABEL_FIRST_CHARS = frozenset(label[0] for label in _LABELS)
# "时间" counts only on an info line with another label ("时间：… 来源：…").
_NEEDS_COMPANY = frozenset({"时间"})
_MAX_LABEL_ELEMENTS = 1_000  # a real page has a few dozen; more is a hostile page
_STANDALONE_RANK = 5  # a bare number line ranks below any labelled 文号 in the text
_VALUE_END = re.compile(f" ?\\| | {{2,}}| (?=[{_CJK}]{{1,8}} ?[:：])")


@dataclass
class _Pair:
    field: str
    rank: int
    value: str  # may be empty: the value is in the next element
    label: str


def _pairs(line: str, *, at_start: bool) -> list[_Pair]:
    """Label/value pairs in one short line of normalised text.

    With ``at_start`` the line must begin with a label (an element's own text);
    otherwise labels anywhere in it count (a line of body text).
    """
    matches = list(_LABEL.finditer(line))
    if not matches or (at_start and matches[0].start() != 0):
        return []
    pairs = []
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        value = line[match.end() : end].strip(" |")
        cut = _VALUE_END.search(value)
        if cut:
            value = value[: cut.start()]
        label = match["label"].replace(" ", "")
        name, rank = _LABELS[label]
        if match["colon"] is None:
            # "日期选择", "文号" over a search box: not labels unless a date follows
            # (or, at the start of an element, a specific label's value is next to it).
            if value and not (name in _DATE_FIELDS and _DATE_START.match(_normalise_chars(value))):
                continue
            if not value and not (at_start and i == 0 and label not in _GENERIC_LABELS):
                continue
        pairs.append(_Pair(name, rank, value, label))
    if len(pairs) == 1 and pairs[0].label in _NEEDS_COMPANY:
        return []  # "时间：2024年3月5日" alone is a meeting's time more often than not
    return pairs


_DATE_START = re.compile(f"(?:(?:19|20)\\d\\d|[{_CN_DIGITS}]{{4}} ?年)")


def _field_value(name: str, value: str) -> tuple[str, str | None] | None:
    """(value, raw) for ``name`` from a labelled value, or None if it is not one."""
    if name in _DATE_FIELDS:
        iso = _parse_date(_normalise_chars(value[:60]))
        return (iso, None) if iso else None
    if name == "document_number":
        number = _document_number_value(value)
        if number:
            return number
        # a labelled value of a form we do not know (京政发〔2024〕 with no number):
        # kept as written, if it has digits and is short (not "请输入" over a search box)
        cleaned = _text_value(value)
        if cleaned and len(cleaned) <= 40 and any(c.isdigit() for c in cleaned):
            return cleaned.replace(" ", ""), cleaned
        return None
    cleaned = _text_value(value)
    return (cleaned, None) if cleaned else None


# --- collecting -----------------------------------------------------------------------

_FIELDS = ("document_number", "issuer", "written_date", "published_date", "index_number")
_FIELDS += ("topic", "validity", "last_modified", "title", "source")
_LISTING_VALUES = 3  # distinct values of one label in one source: a listing page


class _Found:
    """Candidates per source and field; ``result`` settles them, most trusted source first."""

    def __init__(self) -> None:
        # (source, field) -> [(rank, order, value, raw)], in insertion order of sources
        self.candidates: dict[tuple[str, str], list[tuple[int, int, str, str | None]]] = {}
        self.order = 0

    def offer(
        self, name: str, value: str | None, raw: str | None, source: str, rank: int = 0
    ) -> None:
        if not value:
            return
        self.order += 1
        self.candidates.setdefault((source, name), []).append((rank, self.order, value, raw))

    def result(self) -> NoticeMetadata:
        chosen: dict[str, tuple[str, str | None, str]] = {}
        for source in sorted({s for s, _ in self.candidates}, key=_trust):
            for (src, name), candidates in self.candidates.items():
                if src != source or name in chosen:
                    continue
                best_rank = min(rank for rank, _, _, _ in candidates)
                best = [c for c in candidates if c[0] == best_rank]
                if len({value for _, _, value, _ in best}) >= _LISTING_VALUES:
                    continue
                _, _, value, raw = min(best)
                chosen[name] = (value, raw, source)
        kwargs: dict[str, str] = {}
        sources: dict[str, str] = {}
        for name in _FIELDS:
            if name not in chosen:
                continue
            value, raw, source = chosen[name]
            kwargs[name] = value
            sources[name] = source
            if name == "document_number":
                kwargs["document_number_raw"] = raw or value
                sources["document_number_raw"] = source
        return NoticeMetadata(**kwargs, sources=sources)


def _trust(source: str) -> int:
    """table < meta:* < text < text:signature (lower is more trusted)."""
    if source == "table":
        return 0
    if source.startswith("meta:"):
        return 1
    return 2 if source == "text" else 3


# --- HTML -----------------------------------------------------------------------------


def _elements(roots: Iterable[etree._Element], *tags: str) -> Iterator[etree._Element]:
    for root in roots:
        yield from root.iter(*tags)


# meta name (lower case) -> field; earlier names win.
_META_FIELDS: dict[str, str] = {
    "pubdate": "published_date",
    "firstpublishedtime": "published_date",
    "publishdate": "published_date",
    "publishtime": "published_date",
    "article:published_time": "published_date",
    "datepublished": "published_date",
    "lastmodifiedtime": "last_modified",
    "article:modified_time": "last_modified",
    "datemodified": "last_modified",
    "last-modified": "last_modified",
    "articletitle": "title",
    "contentsource": "source",
}
_META_ORDER = {name: i for i, name in enumerate(_META_FIELDS)}


def _from_meta(found: _Found, roots: list[etree._Element]) -> None:
    best: dict[str, tuple[int, str, str]] = {}  # field -> (order, value, meta name)
    for meta in _elements(roots, "meta"):
        attrs = meta.attrib
        key = attrs.get("name") or attrs.get("property") or attrs.get("itemprop")
        key = key or attrs.get("http-equiv")
        content = attrs.get("content")
        if not key or not content:
            continue
        name = key.strip().lower()
        target = _META_FIELDS.get(name)
        if target is None:
            continue
        if target in _DATE_FIELDS or target == "last_modified":
            value = _parse_date(_normalise_chars(content[:60]))
        else:
            value = _text_value(content)
        if value and (target not in best or _META_ORDER[name] < best[target][0]):
            best[target] = (_META_ORDER[name], value, key.strip())
    # meta comes after the page's own label tables: remembered now, applied later
    for target, (_, value, key) in best.items():
        found.offer(target, value, None, f"meta:{key}")


_TABLE_TAGS = frozenset({"td", "th", "dt", "dd", "tr", "table", "dl", "tbody"})
_CONTAINER_TAGS = frozenset({"tr", "table", "tbody", "thead", "dl", "ul", "ol", "body", "html"})


def _short_text(element: etree._Element, limit: int) -> str | None:
    """The element's text, or None once it is longer than ``limit`` (spaces count a tenth)."""
    parts: list[str] = []
    count = 0
    budget = limit * 10
    for piece in element.itertext():
        count += len(piece) * 10 - 9 * (piece.count(" ") + piece.count("\n") + piece.count("\t"))
        if count > budget:
            return None
        parts.append(piece)
    return "".join(parts)


def _first_char(element: etree._Element) -> str:
    """The first non-space character of the element's text, looked for near its start."""
    return _first_text(element)[:1]


def _first_text(element: etree._Element) -> str:
    """The first piece of the element's text, stripped on the left, or "".

    Only the first-child chain is followed (a few levels: ``<td><b>发文字号：``), so
    the test costs the same on a flat page and on one nested thousands deep.
    """
    node = element
    for _ in range(4):
        text = (node.text or "").lstrip()
        if text:
            return text
        if len(node) == 0 or not isinstance(node[0].tag, str):
            return ""
        tail = (node[0].tail or "").lstrip()
        if tail and len(node[0]) == 0 and not (node[0].text or "").strip():
            return tail  # <div><img>发布日期：…
        node = node[0]
    return ""


def _next_value(element: etree._Element) -> tuple[str, etree._Element] | None:
    """The text after a label element: its tail, its next sibling, or its parent's."""
    current = element
    for _ in range(3):  # <td><b><span>发文字号：</span></b></td><td>value</td>
        tail = _clean(current.tail)
        if tail:
            return tail, current
        sibling = current.getnext()
        while sibling is not None and not isinstance(sibling.tag, str):
            sibling = sibling.getnext()
        if sibling is not None:
            text = _short_text(sibling, _MAX_VALUE)
            return (_clean(text), sibling) if text is not None else None
        parent = current.getparent()
        if parent is None or parent.tag in _CONTAINER_TAGS:
            return None
        current = parent
    return None


def _in_table(*elements: etree._Element) -> bool:
    for element in elements:
        for depth, node in enumerate((element, *element.iterancestors())):
            if depth > 3:
                break
            if node.tag in _TABLE_TAGS:
                return True
    return False


def _from_labelled_elements(found: _Found, roots: list[etree._Element]) -> list[etree._Element]:
    """Elements whose text starts with a label: metadata tables, info lines.

    Returns the elements whose text starts with a date, for ``_info_line_dates``
    (one walk over the tree serves both).
    """
    budget = _MAX_LABEL_ELEMENTS
    dates: list[etree._Element] = []
    for element in _head_and_tail(_elements(roots)):
        tag = element.tag
        if not isinstance(tag, str) or tag in _CONTAINER_TAGS:
            continue
        # most elements start with their own text: _first_text without a call
        first = (element.text or "").lstrip() or _first_text(element)
        if not first or first[0] not in _LABEL_FIRST_CHARS:  # rules out nearly every element
            if (
                first
                and first[0] in _DATE_FIRST_CHARS
                and _starts_with_date(first)
                and len(dates) < _MAX_LABEL_ELEMENTS
            ):
                dates.append(element)
            continue
        budget -= 1
        if budget < 0:
            break
        raw = _short_text(element, _MAX_LABEL_ELEMENT)
        if raw is None:
            continue
        line = _clean(raw)
        if not line:
            continue
        for index, pair in enumerate(_pairs(line, at_start=True)):
            value, where = pair.value, element
            if not value and index == 0:
                following = _next_value(element)
                if following is None:
                    continue
                value, where = following
                if _LABEL.match(value) and _pairs(value, at_start=True):
                    continue  # the next cell is the next label: this one is empty
            got = _field_value(pair.field, value)
            if got is None:
                continue
            source = "table" if _in_table(element, where) else "text"
            found.offer(pair.field, got[0], got[1], source, pair.rank)
    return dates


# elements read for labels at the start and at the end of a page: a notice's labels are
# in its head (the metadata table, the info line under the title) or after its body
# (发布时间 by the print and close links); in the middle of a long page are its
# paragraphs and tables (a 2 MB page has 20,000 elements, and reading them all was a
# sixth of its analysis)
_LABELS_HEAD = 4_000
_LABELS_TAIL = 1_000


def _head_and_tail(elements: Iterator[etree._Element]) -> Iterator[etree._Element]:
    yield from itertools.islice(elements, _LABELS_HEAD)
    yield from collections.deque(elements, maxlen=_LABELS_TAIL)


_DATE_FIRST_CHARS = frozenset("0123456789０１２３４５６７８９" + _CN_DIGITS)
_BARE_DATE_RANK = 2  # below any labelled 发布日期 / 时间 in the text
_MAX_SIBLINGS = 12


def _starts_with_date(text: str) -> bool:
    if not text or text[0] not in _DATE_FIRST_CHARS:
        return False
    return bool(_DATE_START.match(_normalise_chars(text[:6])))


def _info_line_dates(found: _Found, candidates: list[etree._Element]) -> None:
    """A date standing alone in an element next to a labelled one: the info line under
    a title (kepu.gov.cn: ``<li>来源：新华社</li><li>作者：</li><li>2023-12-01 14:43</li>``).

    A date alone anywhere else (a list of links, a calendar) says nothing of the page.
    """
    for element in candidates:
        raw = _short_text(element, _DATE_LINE_MAX)
        compact = _normalise_chars(_clean(raw)).replace(" ", "") if raw else ""
        # the time keeps a separator: "2023-12-0114:43" would not read as one
        spaced = _normalise_chars(_clean(raw)) if raw else ""
        if not compact or not (_DATE.fullmatch(spaced) or _CN_DATE.fullmatch(compact)):
            continue
        if _labelled_sibling(element):
            found.offer("published_date", _parse_date(spaced), None, "text", _BARE_DATE_RANK)


def _labelled_sibling(element: etree._Element) -> bool:
    parent = element.getparent()
    if parent is None:
        return False
    for i, sibling in enumerate(parent):
        if i >= _MAX_SIBLINGS:
            return False
        if sibling is element or not isinstance(sibling.tag, str):
            continue
        if _first_char(sibling) not in _LABEL_FIRST_CHARS:
            continue
        text = _short_text(sibling, _MAX_LABEL_ELEMENT)
        line = _clean(text) if text else ""
        match = _LABEL.match(line)
        if match and match["colon"]:
            return True
    return False


# Where notice bodies live on the templates seen (gov.cn, MIIT, SASTIND, TRS, Hanweb),
# best first: ids, then classes.
_CONTENT_IDS = ("UCAP-CONTENT", "con_con", "zoom", "dochtmlcon", "article", "content")
_CONTENT_CLASSES = ("pages_content", "trs_editor_view", "TRS_UEDITOR", "TRS_Editor")
_CONTENT_CLASSES += ("article-body",)
_ID_RANK = {name: i for i, name in enumerate(_CONTENT_IDS)}
_CLASS_RANK = {name: i + len(_CONTENT_IDS) for i, name in enumerate(_CONTENT_CLASSES)}
# Attribute tests in XPath cost more than this plain filter plus a dict lookup.
_CONTENT_CANDIDATES = etree.XPath("//*[@id or @class]")
_BLOCK_TAGS = (
    *("address", "article", "aside", "blockquote", "body", "caption", "center", "dd"),
    *("div", "dl", "dt", "figcaption", "figure", "footer", "form", "h1", "h2", "h3"),
    *("h4", "h5", "h6", "header", "li", "main", "nav", "ol", "p", "pre", "section"),
    *("table", "tbody", "tfoot", "thead", "tr", "ul"),
)


def _content_region(roots: list[etree._Element]) -> etree._Element | None:
    """The best-ranked notice body container that has some text."""
    best: tuple[int, etree._Element] | None = None
    for root in roots:
        for element in _CONTENT_CANDIDATES(root):
            ranks = [_ID_RANK[i] for i in (element.get("id"),) if i in _ID_RANK]
            ranks += [
                _CLASS_RANK[c] for c in (element.get("class") or "").split() if c in _CLASS_RANK
            ]
            if not ranks or (best is not None and best[0] <= min(ranks)):
                continue
            if len(_clean("".join(element.itertext()))) >= 20:
                best = (min(ranks), element)
    return best[1] if best else None


def _body_text(roots: list[etree._Element]) -> str:
    """Block text (one block per line) of the notice body, or of the whole page."""
    region = _content_region(roots)
    texts: list[str] = []
    for reg in [region] if region is not None else roots:
        for element in reg.iter(*_BLOCK_TAGS):
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
        for element in reg.iter("br", "hr"):
            element.tail = "\n" + (element.tail or "")
        for element in reg.iter("td", "th"):
            element.tail = " | " + (element.tail or "")
        texts.append("".join(reg.itertext()))
    return "\n".join(texts)


# --- text -----------------------------------------------------------------------------

# Endings of the names of issuing organs. Not bare 会/办/组: "…新闻发布会",
# "…在京举办" and similar headlines end with them too.
_ORGAN_END = (
    "部", "局", "委", "委员会", "协会", "联合会", "学会", "办公厅", "办公室", "政府", "院",
    "署", "厅", "银行", "中心", "司", "研究所", "小组", "党组",
)  # fmt: skip
_ORGAN = re.compile(f"[{_CJK}（）()]{{2,40}}")
_DATE_LINE_MAX = 24
_SIGNATURE_WINDOW = 200_000  # characters of text searched for the closing signature


def _from_text(found: _Found, text: str) -> None:
    """Labels and the document number in the head of the text; the signature at its end."""
    if not text:
        return
    head = text[:_TEXT_WINDOW]
    for piece in head.split("\n"):
        line = _clean(piece)
        if not _LABEL.search(line):
            continue
        for pair in _pairs(line, at_start=False):
            if pair.value:
                got = _field_value(pair.field, pair.value)
                if got:
                    found.offer(pair.field, got[0], got[1], "text", pair.rank)
    _standalone_number(found, head)
    _signature(found, text)


def _standalone_number(found: _Found, head: str) -> None:
    """A line that is nothing but a document number: the one under a notice's title.

    Numbers inside sentences are citations of other documents and are skipped.
    """
    for line in head.split("\n"):
        if "号" not in line:
            continue
        raw = _clean(line).strip(" |")
        compact = _normalise_chars(raw).replace(" ", "")
        if not 4 <= len(compact) <= 40:
            continue
        if any(form.fullmatch(compact) for form in _NUMBER_FORMS):
            number = _find_document_number(compact)
            if number:
                found.offer("document_number", number[0], raw, "text", _STANDALONE_RANK)
                return


def _is_organ(part: str) -> bool:
    return bool(_ORGAN.fullmatch(part)) and part.endswith(_ORGAN_END)


def _organs(line: str) -> list[str] | None:
    """The organ names on a signature line (joint notices put several on one), or None."""
    parts = line.split()
    if not parts or not all(_is_organ(p) for p in parts):
        joined = line.replace(" ", "")
        return [joined] if joined and _is_organ(joined) else None
    return parts


def _signature(found: _Found, text: str) -> None:
    """Issuer lines followed by a date line: ``国务院`` / ``2018年12月21日``."""
    lines: list[str] = []  # the non-empty lines, each cleaned where it is looked at
    for piece in text[:_SIGNATURE_WINDOW].split("\n"):
        if len(piece) >= 200:
            line = "…"  # prose: neither organ nor date
        elif not piece or piece.isspace():
            continue
        elif "年" in piece or _INVISIBLE.search(piece):
            line = _clean(piece)
            if not line:
                continue
        else:
            line = piece  # no date: cleaned only if it may be an organ's line
        lines.append(line)
        i = len(lines) - 1
        if len(line) > _DATE_LINE_MAX or "年" not in line or i == 0:
            continue
        compact = _normalise_chars(line).replace(" ", "")
        if not (_DATE.fullmatch(compact) or _CN_DATE.fullmatch(compact)):
            continue
        organs: list[str] = []
        j = i - 1
        while j >= 0 and i - j <= 4:
            names = _organs(_clean(lines[j]))
            if names is None:
                break
            organs[:0] = names
            j -= 1
        if not organs:
            continue
        found.offer("written_date", _parse_date(compact), None, "text:signature")
        found.offer("issuer", "、".join(organs), None, "text:signature")
        return
