"""Anti-bot answers: the table of what each vendor's challenge looks like, and the
classifier it drives.

A challenge is never content, whatever its status code (many answer 200): stored
as a version it would "remove" every keyword of the page and poison its history.
Each row names a vendor and the markers that identify its answer: statuses, and
any of a header, a cookie name, a redirect target or a body marker. Vendor
markers are specific strings and are looked for in the first ``SCAN`` bytes; the
generic ones (a slider, "安全验证") only on a small page that has almost no text
of its own, so that a notice *about* 网络安全验证 stays content. Everything here
is byte searches on a bounded prefix (8 KB of a 200 answer): it runs on every
answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CHALLENGES", "Challenge", "Sample", "classify"]

SCAN = 64 * 1024  # body bytes of an error answer looked at for vendor markers
SCAN_OK = 8 * 1024  # ... of a 200 answer (every page): challenge markers come first
SMALL = 16 * 1024  # the largest body the generic markers are looked for in
FEW_CHARACTERS = 200  # a challenge page's own text is shorter than this

_TAGS = re.compile(rb"<(script|style)\b.*?</\1\s*>|<[^>]*>|&[#\w]+;", re.S | re.I)
_SPACE = re.compile(rb"\s+")


def _both(text: str) -> tuple[bytes, ...]:
    """A marker as UTF-8 and as GB18030 bytes (the body is not decoded here)."""
    return tuple(dict.fromkeys((text.encode(), text.encode("gb18030"))))


@dataclass(frozen=True, slots=True)
class Sample:
    """An answer of the row's kind, as seen on the sites: what the tests serve."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()
    charset: str = "utf-8"

    def bytes(self) -> bytes:
        return self.body.encode(self.charset)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One row of the table: a vendor's answer and what identifies it."""

    vendor: str  # named in the error, e.g. "加速乐 (Jiasule) JS-cookie challenge"
    statuses: frozenset[int]
    headers: Mapping[str, str] | None = None  # header name (lower case) → value substring
    cookies: tuple[str, ...] = ()  # Set-Cookie name prefixes
    cookie_pattern: str | None = None  # or a regex over the whole name
    location: tuple[str, ...] = ()  # redirect target substrings (lower case)
    body: tuple[bytes, ...] = ()  # specific markers, in the first SCAN bytes
    generic: bool = False  # body markers that need a small page with little text
    gate: tuple[bytes, ...] = ()  # generic: one of these first (fewer searches)
    sample: Sample | None = None  # an example answer, served by the tests
    also: tuple[Sample, ...] = ()  # more examples (other statuses)

    def samples(self) -> tuple[Sample, ...]:
        return ((self.sample,) if self.sample else ()) + self.also

    def matches(
        self,
        status: int,
        headers: Mapping[str, str],
        cookies: Sequence[str],
        body: bytes,
        location: str,
    ) -> bool:
        if status not in self.statuses:
            return False
        for name, needle in (self.headers or {}).items():
            if needle in headers.get(name, "").lower():
                return True
        if self.cookies and any(c.startswith(self.cookies) for c in cookies):
            return True
        if self.cookie_pattern and any(re.fullmatch(self.cookie_pattern, c) for c in cookies):
            return True
        if self.location and any(m in location for m in self.location):
            return True
        if not self.body:
            return False
        if self.generic:
            if len(body) > SMALL or not _has(body, self.gate, SMALL):
                return False
            return _has(body, self.body, SMALL) and _little_text(body)
        return _has(body, self.body, SCAN_OK if status == 200 else SCAN)


def _has(body: bytes, markers: tuple[bytes, ...], limit: int) -> bool:
    return any(body.find(m, 0, limit) >= 0 for m in markers)


def _little_text(body: bytes) -> bool:
    """The page's own text (tags, scripts and styles left out) is a few words."""
    text = _SPACE.sub(b"", _TAGS.sub(b"", body))
    return len(text.decode("utf-8", "replace")) < FEW_CHARACTERS


_VERIFY = (
    *_both("安全验证"),
    *_both("访问验证"),
    *_both("人机验证"),
    *_both("滑动验证"),
    *_both("拖动滑块"),
    *_both("访问行为验证"),
)

CHALLENGES: tuple[Challenge, ...] = (
    Challenge(
        "瑞数 (Rivers Security) dynamic-cookie challenge",
        frozenset({200, 202, 412}),
        body=(b"$_ts=", b"$_ts.", b"$_ts["),
        sample=Sample(
            200,
            '<html><head><meta id="9DhefwqGPrzGxEp9hPaoag" content="{qqqqq}">'
            "<script>$_ts=window['$_ts'];if(!$_ts)$_ts={};$_ts.nsd=17213;$_ts.cd=\"qEp\";"
            '</script><script src="/4QbVtADbnLVIc/c.FxJzG50F.dfe1675.js" r="m"></script>'
            "</head><body></body></html>",
        ),
    ),
    Challenge(
        "瑞数 (Rivers Security) dynamic-cookie challenge",
        frozenset({412}),
        cookie_pattern=r"[0-9A-Za-z]{10,}[ST]",
        sample=Sample(
            412,
            '<html><head><script src="/4QbVtADbnLVIc/c.js" r="m"></script></head></html>',
            (("Set-Cookie", "NfBCSins2OywO80S=60Aqx1uR1pbLL; Path=/; HttpOnly"),),
        ),
    ),
    Challenge(
        "加速乐 (Jiasule) JS-cookie challenge",
        frozenset({200, 521}),
        body=(b"__jsl_clearance", b"jsl_clearance_s"),
        sample=Sample(
            200,
            "<script>document.cookie=('_')+('_')+('j')+('s')+('l')+('_')+('c')+('l')+"
            "'__jsl_clearance_s=1669617081.262|0|lg4%2B';location.href=location.pathname"
            "+location.search</script>",
        ),
    ),
    Challenge(
        "加速乐 (Jiasule) JS-cookie challenge",
        frozenset({521}),
        cookies=("__jsluid", "__jsl_clearance"),
        sample=Sample(
            521,
            "<script>document.cookie=('_')+('_')+('j')+('s')+('l')</script>",
            (("Set-Cookie", "__jsluid_s=4c0c1e2bba8f8a5d; max-age=31536000; path=/"),),
        ),
    ),
    Challenge(
        "WZWS challenge",
        frozenset({200, 202, 301, 302, 303, 307}),
        cookies=("wzws_cid",),
        location=("wzwschallenge", "/wzwsrel"),
        body=(b"wzwschallenge", b"WZWSREL"),
        sample=Sample(
            200,
            '<html><head><script type="text/javascript">var dynamicurl="/WZWSREL3pod'
            'WFueS9pbmRleC5odG1s";var wzwschallenge="RANDOMSTR";var wzwschallengex='
            '"STRRANDOM";</script></head><body></body></html>',
            (("Server", "360wzws"), ("Set-Cookie", "wzws_cid=9c0ed0b7e4a6; path=/")),
        ),
        also=(Sample(202, "<script>location='/WZWSREL?wzwschallenge=abc'</script>"),),
    ),
    Challenge(
        "安全狗 (Safedog) WAF block",
        frozenset({200, 403}),
        headers={"server": "safedog"},
        cookies=("safedog-flow-item",),
        body=(b"safedog.cn", b"safedogsite", *_both("安全狗")),
        sample=Sample(
            403,
            "<html><head><title>网站防火墙</title></head><body><h3>您的请求带有不合法参数，"
            '已被网站管理员设置拦截！</h3><a href="http://www.safedog.cn/">网站安全狗</a>'
            "</body></html>",
            (("Server", "Safedog"), ("Set-Cookie", "safedog-flow-item=2F3A; path=/")),
        ),
    ),
    Challenge(
        "云锁 (Yunsuo) WAF verification",
        frozenset({200, 403}),
        headers={"server": "yunsuo"},
        cookies=("yunsuo_session_verify", "security_session_verify"),
        body=(b"yunsuo_session_verify", b"security_verify_data", b"yunsuologo"),
        sample=Sample(
            200,
            "<html><script>function stringToHex(str){}window.location.href="
            '"/?security_verify_data="+stringToHex(screen.width+","+screen.height);'
            "</script></html>",
            (("Set-Cookie", "security_session_verify=3b7e1a6c; path=/; HttpOnly"),),
        ),
    ),
    Challenge(
        "知道创宇 创宇盾 (Knownsec) WAF block",
        frozenset({403, 468}),
        headers={"server": "knownsec"},
        body=(b"knownsec", b"yunaq.com", *_both("创宇盾"), *_both("知道创宇")),
        sample=Sample(
            468,
            "<html><head><title>创宇盾</title></head><body><p>您的访问被拦截，"
            '请联系网站管理员。</p><img src="https://static.yunaq.com/static/block.png">'
            "</body></html>",
        ),
    ),
    Challenge(
        "Cloudflare challenge",
        frozenset({200, 403, 503}),
        headers={"cf-mitigated": "challenge"},
        body=(b"/cdn-cgi/challenge-platform/", b"cf_chl_opt", b"cf-chl-widget"),
        sample=Sample(
            403,
            "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
            "<script>window._cf_chl_opt={cvId: '3',cZone: 'www.example.gov.cn'};</script>"
            '<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script>'
            "</body></html>",
            (("Server", "cloudflare"), ("cf-mitigated", "challenge")),
        ),
        also=(
            Sample(
                503,
                "<html><head><title>Just a moment...</title></head><body><script>"
                "window._cf_chl_opt={cType: 'managed'};</script></body></html>",
                (("Server", "cloudflare"),),
            ),
        ),
    ),
    Challenge(
        "电信云防护 (China Telecom cloud WAF), often geo-blocking non-CN addresses",
        frozenset({405}),
        body=_both("电信云防护"),
        sample=Sample(
            405,
            "<html><body>该网站正在使用电信云防护服务，您的访问被阻断。</body></html>",
            charset="gb18030",
        ),
    ),
    Challenge(
        "a slider or 安全验证 / 访问验证 page",
        frozenset({200, 202, 403, 405, 412, 468, 503, 521}),
        body=_VERIFY,
        generic=True,
        gate=(*_both("验证"), *_both("滑块")),
        sample=Sample(
            200,
            '<html><head><meta charset="utf-8"><title>安全验证</title></head><body>'
            '<div class="verify"><p>请拖动滑块完成访问验证</p><div id="slider"></div></div>'
            '<script src="/verify/slider.js"></script></body></html>',
        ),
    ),
)


_BY_STATUS: dict[int, tuple[Challenge, ...]] = {
    status: tuple(r for r in CHALLENGES if status in r.statuses)
    for status in {s for r in CHALLENGES for s in r.statuses}
}


def classify(
    status: int,
    headers: Mapping[str, str],
    set_cookies: Sequence[str],
    body: bytes,
    location: str = "",
) -> str | None:
    """The vendor whose challenge this answer is, with its status, or None for an answer
    to be read as itself. ``headers`` is looked up case-insensitively (httpx's
    Headers); ``set_cookies`` are the Set-Cookie values."""
    if status in (204, 304):
        return None
    rows = _BY_STATUS.get(status)
    if not rows:
        return None
    cookies = [c.split("=", 1)[0].strip() for c in set_cookies]
    location = location.lower()
    for row in rows:
        if row.matches(status, headers, cookies, body, location):
            return f"{row.vendor}: HTTP {status}"
    return None
