"""A local 'government website' for the benchmark: generated notice pages and their server.

Pages are generated deterministically from a seed: Chinese notice HTML with the
usual header/nav/footer boilerplate, a title, 发布日期, body paragraphs, tables and
attachment links. Encodings are mixed as on real sites:

- ``gbk-header``: GBK bytes, ``charset=gb2312`` in the meta tag and in Content-Type;
- ``gbk-meta``: GBK bytes, ``charset=gb2312`` in the meta tag only;
- ``gbk-none``: GBK bytes, no charset anywhere;
- ``utf8``: UTF-8 bytes, ``charset=utf-8`` in the meta tag and in Content-Type.

Every page names 朱镕, 王堃 and 李喆 (characters outside GB2312 but inside GBK), so a
decoder that trusts the declared ``gb2312`` loses them.

The server is one asyncio listener per loopback address (127.0.0.1, 127.0.0.2,
...), HTTP/1.1 with keep-alive, run in a child process so that its CPU time never mixes with the
figures of the tools under test. It sends ETag and Last-Modified and answers
conditional requests with 304.

A ``Profile`` sets the site's shape: ``DEFAULT`` as above; ``DENSE`` is 1,000 pages of
mean ~105 KB (median ~16 KB), 70 % GBK (a fifth of it undeclared), about 300
mentions of 船舶 / 国防科工局 / 工业互联网 a page, and no validators at all (no ETag,
no Last-Modified): every check downloads every page.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import multiprocessing as mp
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

ENCODING_CLASSES = ("gbk-header", "gbk-meta", "gbk-none", "utf8")
# 1/3 declared GBK (split between header+meta and meta only), 1/6 undeclared GBK, 1/2 UTF-8
ENCODING_WEIGHTS = (1, 1, 1, 3)
RARE_CHARS = "镕堃喆"  # in GBK, not in GB2312
COMMON_WORD = "通知"
MIN_SIZE = 5_000
MAX_SIZE = 1_000_000
MEDIAN_SIZE = 20_000
SIZE_SIGMA = 1.1
BASE_MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class Profile:
    """The shape of a generated site: sizes, encodings, keyword density, validators."""

    name: str = "default"
    median_size: int = MEDIAN_SIZE
    size_sigma: float = SIZE_SIGMA
    min_size: int = MIN_SIZE
    max_size: int = MAX_SIZE
    encoding_weights: tuple[int, ...] = ENCODING_WEIGHTS  # over ENCODING_CLASSES
    keywords_per_page: int = 0  # 0: KEYWORD_RATE of the sentences name one
    validators: bool = True  # ETag and Last-Modified, and 304 answers


DEFAULT = Profile()
DENSE = Profile(
    name="dense",
    median_size=14_000,
    size_sigma=2.1,
    min_size=6_000,
    max_size=2_000_000,
    # 70 % GBK: 28 % declared in header and meta, 28 % in meta only, 14 % undeclared
    encoding_weights=(28, 28, 14, 30),
    keywords_per_page=300,
    validators=False,
)
PROFILES = {p.name: p for p in (DEFAULT, DENSE)}
DENSE_KEYWORDS = ("船舶", "国防科工局", "工业互联网")

# --------------------------------------------------------------------------- text

KEYWORD_RATE = 0.08  # share of sentences that name 船舶/造船/国防科工局/工业互联网

_OPENERS = [
    "为深入贯彻落实党中央、国务院决策部署",
    "根据《中华人民共和国行政许可法》有关规定",
    "按照年度重点工作安排",
    "为加快推进制造业数字化转型",
    "经研究决定",
    "为进一步规范行业管理",
    "根据各地推荐和专家评审结果",
    "为落实制造强国战略",
    "按照《“十四五”智能制造发展规划》要求",
    "结合当前行业发展形势",
]
_SUBJECTS = [
    "各地工业和信息化主管部门",
    "有关中央企业",
    "行业骨干企业",
    "相关单位",
    "平台企业",
    "各省级主管部门",
    "中小企业",
    "相关行业协会",
    "重点实验室和研究院所",
    "地方主管部门",
]
_ACTIONS = [
    "要高度重视，加强组织领导",
    "应结合本地区实际制定实施方案",
    "要认真组织申报，确保材料真实有效",
    "应加快推进产业结构调整和转型升级",
    "要加强标识解析体系建设",
    "应严格落实安全生产主体责任",
    "要推动军民融合深度发展",
    "应做好数据统计和信息报送工作",
    "要强化关键核心技术攻关",
    "应积极推广先进适用技术",
    "要按时报送年度工作总结",
    "应加强部门间的沟通协调",
]
_GOALS = [
    "切实提升产业链供应链韧性和安全水平",
    "推动制造业高端化、智能化、绿色化发展",
    "确保各项工作任务落到实处",
    "促进产业高质量发展",
    "形成一批可复制可推广的典型经验",
    "为建设制造强国和网络强国提供有力支撑",
    "不断提高产业现代化水平",
    "加快培育新质生产力",
]
_KEYWORD_CLAUSES = [
    "加快推进船舶工业结构调整和转型升级",
    "积极推广绿色智能船舶",
    "促进造船业高质量发展",
    "加强与国防科工局的沟通协调",
    "按照国防科工局有关要求做好保密工作",
    "加强工业互联网标识解析体系建设",
    "推动工业互联网平台在重点行业应用",
    "支持船舶配套企业开展技术改造",
]
_TITLE_TOPICS = [
    "船舶工业高质量发展典型案例",
    "工业互联网试点示范项目",
    "国防科技工业知识产权转化目录",
    "绿色智能船舶推广应用",
    "工业互联网平台创新领航应用案例",
    "船舶配套产业能力提升行动",
    "国防科技工业科普教育基地",
    "制造业单项冠军企业",
    "海洋工程装备重点项目",
    "智能制造标准体系建设",
]
_TITLE_VERBS = ["组织开展", "公布", "印发", "征集", "做好", "推荐申报"]
_COMPANIES = [
    "中国船舶集团有限公司",
    "中国商用飞机有限责任公司",
    "中国中车股份有限公司",
    "三一重工股份有限公司",
    "广船国际有限公司",
    "中国航天科技集团有限公司",
    "中国电子科技集团有限公司",
    "海尔卡奥斯物联生态科技有限公司",
    "树根互联股份有限公司",
    "浪潮云洲信息科技有限公司",
    "招商局重工（江苏）有限公司",
    "扬子江船业集团公司",
]
_PROJECTS = [
    "智能工厂建设项目",
    "数字化车间改造项目",
    "关键零部件攻关项目",
    "绿色制造系统集成项目",
    "标准验证平台项目",
    "产业链协同创新项目",
    "高端装备研制项目",
    "质量提升示范项目",
]
_REGIONS = ["北京市", "上海市", "江苏省", "浙江省", "山东省", "辽宁省", "广东省", "湖北省"]
_DEPARTMENTS = ["装备工业二司", "信息技术发展司", "运行监测协调局", "科技司", "办公厅"]
_NAV = [
    "首页",
    "机构",
    "新闻",
    "政务公开",
    "政务服务",
    "公众参与",
    "专题",
    "数据",
    "政策文件",
    "政策解读",
    "通知公告",
    "人事信息",
    "规划计划",
    "行业标准",
    "统计分析",
    "建议提案办理",
    "政府信息公开指南",
    "政府信息公开年报",
    "在线访谈",
    "网上调查",
    "意见征集",
    "办事指南",
    "行政许可",
    "信息公开目录",
]


def _sentence(rng: random.Random, keyword_rate: float = KEYWORD_RATE) -> str:
    """One sentence of notice prose, now and then naming 船舶/国防科工局/工业互联网
    (a rate above 1: that many such clauses, on average)."""
    parts = [rng.choice(_OPENERS), rng.choice(_SUBJECTS) + rng.choice(_ACTIONS)]
    if keyword_rate > 1:
        whole = int(keyword_rate) + (rng.random() < keyword_rate % 1)
        parts.extend(rng.choice(_KEYWORD_CLAUSES) for _ in range(whole))
    elif rng.random() < keyword_rate:
        parts.append(rng.choice(_KEYWORD_CLAUSES))
    elif rng.random() < 0.6:
        parts.append(rng.choice(_GOALS))
    return "，".join(parts) + "。"


def _paragraph(rng: random.Random, keyword_rate: float = KEYWORD_RATE) -> str:
    return "".join(_sentence(rng, keyword_rate) for _ in range(rng.randint(2, 5)))


def _table(rng: random.Random, rows: int) -> str:
    head = "<tr><th>序号</th><th>单位名称</th><th>项目名称</th><th>所在地区</th></tr>"
    body = "".join(
        f"<tr><td>{i}</td><td>{rng.choice(_COMPANIES)}</td>"
        f"<td>{rng.choice(_PROJECTS)}</td><td>{rng.choice(_REGIONS)}</td></tr>\n"
        for i in range(1, rows + 1)
    )
    attrs = 'class="MsoTable" border="1" cellspacing="0" width="100%"'
    return f"<table {attrs}>\n{head}\n{body}</table>\n"


def chinese_text(rng: random.Random, chars: int) -> str:
    """About ``chars`` characters of notice prose, one paragraph per line."""
    out: list[str] = []
    total = 0
    while total < chars:
        para = _paragraph(rng)
        out.append(para)
        total += len(para) + 1
    return "\n".join(out)


# --------------------------------------------------------------------------- pages


@dataclass(slots=True)
class Page:
    """One served page: its bytes and the validators the server sends."""

    name: str
    host: int  # index into the host list
    kind: str  # one of ENCODING_CLASSES
    body: bytes
    mtime: int

    @property
    def codec(self) -> str:
        return "utf-8" if self.kind == "utf8" else "gbk"

    @property
    def content_type(self) -> str:
        if self.kind == "utf8":
            return "text/html; charset=utf-8"
        if self.kind == "gbk-header":
            return "text/html; charset=gb2312"
        return "text/html"

    @property
    def etag(self) -> str:
        return f'"{self.mtime:x}-{len(self.body):x}"'  # nginx style

    @property
    def last_modified(self) -> str:
        return email.utils.formatdate(self.mtime, usegmt=True)


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What the benchmark needs to know about a page (no body)."""

    name: str
    url: str
    kind: str
    size: int
    mentions: int = 0  # of 船舶, 国防科工局 and 工业互联网 in the page's text


def page_name(index: int, total: int) -> str:
    return f"p{index + 1:0{max(4, len(str(total)))}d}"


def _target_size(rng: random.Random, index: int, count: int, profile: Profile = DEFAULT) -> int:
    if index == count // 2:
        return profile.max_size  # always one page at the cap, the worst case for every stage
    size = rng.lognormvariate(math.log(profile.median_size), profile.size_sigma)
    return int(min(profile.max_size, max(profile.min_size, size)))


# bytes of page per sentence of prose, about (a paragraph's markup shared by its
# sentences), and per keyword clause added to a sentence
_BYTES_PER_SENTENCE = {"utf-8": 360, "gbk": 240}
_BYTES_PER_CLAUSE = {"utf-8": 40, "gbk": 27}
_BOILERPLATE = 5_000  # head, navigation and footer
_MAX_CLAUSES = 40  # per sentence: a tiny page gets what fits


def _keyword_rate(profile: Profile, size: int, codec: str) -> float:
    """Keyword clauses per sentence for ``keywords_per_page`` mentions in ``size`` bytes.

    With r clauses a sentence, prose of P bytes holds P / (s + r·c) sentences, so
    r = n·s / (P − n·c) mentions n (tables take about a sixth of the blocks)."""
    if not profile.keywords_per_page:
        return KEYWORD_RATE
    n = profile.keywords_per_page
    prose = max(size - _BOILERPLATE, 0) * 0.85 - n * _BYTES_PER_CLAUSE[codec]
    if prose <= 0:
        return _MAX_CLAUSES
    return min(_MAX_CLAUSES, n * _BYTES_PER_SENTENCE[codec] / prose)


def _head(kind: str, title: str, date: str, dept: str) -> str:
    if kind == "utf8":
        meta = '<meta charset="utf-8">'
    elif kind == "gbk-none":
        meta = ""
    else:
        meta = '<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />'
    return (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml">\n<head>\n'
        f"{meta}\n<title>{title}_中华人民共和国工业和信息化部</title>\n"
        f'<meta name="ArticleTitle" content="{title}">\n'
        f'<meta name="PubDate" content="{date} 10:30">\n'
        f'<meta name="ContentSource" content="{dept}">\n'
        '<link rel="stylesheet" type="text/css" href="/css/common.css" />\n'
        '<script type="text/javascript" src="/js/jquery-1.12.4.min.js"></script>\n'
        "<script>var _hmt = _hmt || [];(function(){var hm=document.createElement('script');"
        "hm.src='/js/stat.js';var s=document.getElementsByTagName('script')[0];"
        "s.parentNode.insertBefore(hm,s);})();</script>\n</head>\n"
    )


def _header_nav() -> str:
    links = "\n".join(
        f'<li><a href="/col/{i:03d}/index.html" target="_blank">{label}</a></li>'
        for i, label in enumerate(_NAV)
    )
    return (
        '<body>\n<div class="top"><div class="logo"><a href="/">'
        '<img src="/images/logo.png" alt="中华人民共和国工业和信息化部" /></a></div>\n'
        '<div class="toplinks"><a href="/wza/">无障碍</a> | <a href="/en/">English</a> | '
        '<a href="/m/">移动版</a></div>\n<form action="/search" method="get">'
        '<input type="text" name="q" placeholder="请输入关键词" /><button>搜索</button>'
        "</form></div>\n"
        f'<div class="nav"><ul>\n{links}\n</ul></div>\n'
        '<div class="location">当前位置：<a href="/">首页</a> &gt; '
        '<a href="/zwgk/">政务公开</a> &gt; <a href="/zwgk/tzgg/">通知公告</a></div>\n'
    )


def _footer() -> str:
    return (
        '<div class="footer"><p><a href="/about/">关于我们</a> | <a href="/map/">网站地图</a>'
        ' | <a href="/contact/">联系我们</a></p>\n'
        "<p>版权所有：中华人民共和国工业和信息化部　网站标识码：bm07000001</p>\n"
        "<p>京ICP备04000001号　京公网安备11040102700068号</p>\n"
        "<p>地址：北京市西城区西长安街13号　邮编：100804</p></div>\n</body>\n</html>\n"
    )


def _title(rng: random.Random, index: int) -> str:
    year = 2023 + index % 3
    return f"关于{rng.choice(_TITLE_VERBS)}{year}年{rng.choice(_TITLE_TOPICS)}工作的通知"


def build_page_html(
    rng: random.Random, index: int, kind: str, size: int, profile: Profile = DEFAULT
) -> str:
    """One notice page whose encoded size is about ``size`` bytes."""
    codec = "utf-8" if kind == "utf8" else "gbk"
    rate = _keyword_rate(profile, size, codec)
    title = _title(rng, index)
    month, day = 1 + index % 12, 1 + index % 28
    date = f"{2023 + index % 3}-{month:02d}-{day:02d}"
    dept = rng.choice(_DEPARTMENTS)
    top = _head(kind, title, date, dept) + _header_nav()
    top += (
        f'<div class="article">\n<h1 id="con_title">{title}</h1>\n'
        f'<div class="info"><span>发布日期：{date}</span>　<span>来源：{dept}</span>　'
        f'<span>浏览次数：<span id="visit">{rng.randint(100, 99999)}</span></span></div>\n'
        '<div class="TRS_Editor" id="con_con">\n'
        "<p>各省、自治区、直辖市及计划单列市、新疆生产建设兵团工业和信息化主管部门，"
        "有关中央企业：</p>\n"
    )
    bottom = (
        "<p>特此通知。</p>\n"
        "<p>联系人：朱镕、王堃、李喆　联系电话：010-68205555</p>\n"
        f'<p>附件：<a href="/cms_files/filemanager/{index:06d}/attach/'
        f'P0{20240000 + index}.pdf">1.{rng.choice(_TITLE_TOPICS)}申报书.pdf</a><br/>'
        f'<a href="/cms_files/filemanager/{index:06d}/attach/P1{20240000 + index}.docx">'
        "2.推荐汇总表.docx</a></p>\n"
        f'<p style="text-align:right">工业和信息化部办公厅</p>\n'
        f'<p style="text-align:right">{date[:4]}年{month}月{day}日</p>\n</div>\n</div>\n'
    ) + _footer()
    parts = [top]
    used = len(top.encode(codec)) + len(bottom.encode(codec))
    while used < size:
        if rng.random() < 0.15:
            block = _table(rng, rng.randint(5, 40))
        else:
            block = f'<p style="text-indent:2em">{_paragraph(rng, rate)}</p>\n'
        parts.append(block)
        used += len(block.encode(codec))
    parts.append(bottom)
    return "".join(parts)


def generate_pages(count: int, hosts: int, seed: int, profile: Profile = DEFAULT) -> list[Page]:
    """``count`` pages spread round-robin over ``hosts`` addresses."""
    pages = []
    for index in range(count):
        rng = random.Random(seed * 1_000_003 + index)
        kind = rng.choices(ENCODING_CLASSES, weights=profile.encoding_weights)[0]
        size = _target_size(rng, index, count, profile)
        html = build_page_html(rng, index, kind, size, profile)
        body = html.encode("utf-8" if kind == "utf8" else "gbk")
        mtime = BASE_MTIME + index * 3600
        pages.append(Page(page_name(index, count), index % hosts, kind, body, mtime))
    return pages


_PARA_RE = re.compile(r'<p style="text-indent:2em">(.*?)</p>')


def mutate_page(page: Page, rng: random.Random, now: int) -> None:
    """Rewrite one or two sentences of the body, re-encoded in the page's own encoding."""
    html = page.body.decode(page.codec)
    matches = list(_PARA_RE.finditer(html))
    edits = rng.randint(1, 2)
    if matches:
        chosen = rng.sample(matches, min(edits, len(matches)))
        for match in sorted(chosen, key=lambda m: -m.start()):  # from the end: offsets hold
            sentences = match.group(1).split("。")
            at = rng.randrange(max(1, len(sentences) - 1))
            sentences[at] = _sentence(rng, keyword_rate=0.3).rstrip("。") + "（修订）"
            html = html[: match.start(1)] + "。".join(sentences) + html[match.end(1) :]
    else:  # tiny page: edit the closing line instead
        html = html.replace("<p>特此通知。</p>", f"<p>{_sentence(rng)}特此通知。</p>", 1)
    page.body = html.encode(page.codec)
    page.mtime = max(now, page.mtime + 1)


# --------------------------------------------------------------------------- server


class _Stats:
    """Responses served, by status code, and body bytes sent (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, code: int, sent: int) -> None:
        with self._lock:
            self._counts[str(code)] += 1
            self._counts["bytes"] += sent

    def take(self) -> dict[str, int]:
        """The counts since the last call."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 400: "Bad Request"}


class _Headers(dict[str, str]):
    """A request's headers by lower-case name."""

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


def _answer(
    pages: dict[str, Page], path: str, headers: _Headers, validators: bool
) -> tuple[int, bytes, str | None, list[tuple[str, str]]]:
    """Status, body, Content-Type and other headers for one GET of ``path``."""
    page = pages.get(path.lstrip("/").removesuffix(".html"))
    if page is None:
        return 404, b"not found", "text/plain", []
    body = page.body  # one read: mutate() swaps it atomically
    if not validators:
        return 200, body, page.content_type, []
    sent = [("ETag", page.etag), ("Last-Modified", page.last_modified)]
    if _not_modified(headers, page):
        return 304, b"", None, sent
    return 200, body, page.content_type, sent


def _not_modified(headers: _Headers, page: Page) -> bool:
    """RFC 9110 rules: If-None-Match wins; else If-Modified-Since against Last-Modified."""
    inm = headers.get("If-None-Match")
    if inm:
        tags = {tag.strip().removeprefix("W/") for tag in inm.split(",")}
        return "*" in tags or page.etag in tags
    ims = headers.get("If-Modified-Since")
    if ims:
        try:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
        return page.mtime <= since
    return False


def _connection_handler(
    pages: dict[str, Page], latency: float, stats: _Stats, validators: bool
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """HTTP/1.1 with keep-alive, GET and HEAD, each answer ``latency`` late.

    A remote site's own CPU is not on the machine under test: an asyncio server
    answers a request in a few tens of microseconds, where ``http.server``'s threads
    took about a millisecond each, in turn (a bare client took 3.75 s for 1,000
    pages at 100 ms and 32 in flight, 20 % over the limit, before any tool ran).
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, *_ = [*lines[0].split(" "), "", ""]
                headers = _Headers()
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                if latency:
                    await asyncio.sleep(latency)
                if method in ("GET", "HEAD"):
                    code, body, content_type, extra = _answer(pages, path, headers, validators)
                else:
                    code, body, content_type, extra = 400, b"", None, []
                send_body = method != "HEAD"
                out = [
                    f"HTTP/1.1 {code} {_REASONS[code]}",
                    "Server: nginx/1.24.0",
                    f"Date: {email.utils.formatdate(usegmt=True)}",
                ]
                if content_type:
                    out.append(f"Content-Type: {content_type}")
                out += [f"{k}: {v}" for k, v in extra]
                if code != 304:
                    out.append(f"Content-Length: {len(body)}")
                closing = (headers.get("Connection") or "").lower() == "close"
                if closing:
                    out.append("Connection: close")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
                if send_body and body and code != 304:
                    writer.write(body)
                await writer.drain()
                stats.add(code, len(body) if send_body and code != 304 else 0)
                if closing:
                    return
        except OSError:
            return  # the client went away
        finally:
            writer.close()

    return serve


def _mentions(page: Page) -> int:
    text = page.body.decode(page.codec)
    return sum(text.count(k) for k in DENSE_KEYWORDS)


def _serve_forever(
    conn: Connection,
    count: int,
    hosts: int,
    seed: int,
    latency_ms: float,
    base_port: int,
    profile: Profile,
) -> None:
    """Child process: generate, serve, and obey mutate/stats/stop commands from ``conn``."""
    pages = generate_pages(count, hosts, seed, profile)
    by_name = {p.name: p for p in pages}
    stats = _Stats()
    serve = _connection_handler(by_name, latency_ms / 1000, stats, profile.validators)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="site").start()

    async def listen(host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(serve, host, port, backlog=512)

    servers = [
        asyncio.run_coroutine_threadsafe(
            listen(f"127.0.0.{h + 1}", base_port + h if base_port else 0), loop
        ).result()
        for h in range(hosts)
    ]
    addresses = ["{}:{}".format(*s.sockets[0].getsockname()[:2]) for s in servers]
    infos = [
        PageInfo(
            p.name, f"http://{addresses[p.host]}/{p.name}.html", p.kind, len(p.body), _mentions(p)
        )
        for p in pages
    ]
    conn.send(infos)
    while True:
        command, arg = conn.recv()
        if command == "mutate":
            fraction, mutate_seed = arg
            rng = random.Random(mutate_seed)
            chosen = rng.sample(pages, round(len(pages) * fraction))
            now = int(time.time()) + 1
            for page in chosen:
                mutate_page(page, rng, now)
            conn.send(sorted(p.name for p in chosen))
        elif command == "stats":
            conn.send(stats.take())
        elif command == "stop":
            for server in servers:
                loop.call_soon_threadsafe(server.close)
            conn.send(None)
            return


class SiteServer:
    """Handle on the site process: ``pages``, ``mutate()``, ``stats()``, ``stop()``."""

    def __init__(
        self,
        count: int = 1000,
        hosts: int = 1,
        seed: int = 20240501,
        latency_ms: float = 0,
        base_port: int = 0,
        profile: Profile = DEFAULT,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._seed = seed
        self._mutations = 0
        self._process = ctx.Process(
            target=_serve_forever,
            args=(child, count, hosts, seed, latency_ms, base_port, profile),
            daemon=True,
            name="bench-site",
        )
        self._process.start()
        if not self._conn.poll(600):
            self.stop()
            raise RuntimeError("site process did not start within 600 s")
        self.pages: list[PageInfo] = self._conn.recv()

    def mutate(self, fraction: float = 0.10) -> list[str]:
        """Change ``fraction`` of the pages (a sentence or two each); return their names."""
        self._mutations += 1
        self._conn.send(("mutate", (fraction, self._seed + 7919 * self._mutations)))
        return self._conn.recv()

    def stats(self) -> dict[str, int]:
        """Responses by status code (and body bytes) since the previous call."""
        self._conn.send(("stats", None))
        return self._conn.recv()

    def stop(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(("stop", None))
                self._conn.poll(10) and self._conn.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()

    def __enter__(self) -> SiteServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
