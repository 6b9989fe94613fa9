"""Which ``Host`` headers the UI answers: a defence against DNS rebinding.

A page on another site can point its own host name at 127.0.0.1; the browser then
treats the UI as that site's and lets the page read it. The only sign of it is the
``Host`` header naming the other site, so only known names are answered: the
loopback ones, the host of ``settings.base_url`` and ``settings.allowed_hosts``.
"""

from __future__ import annotations

from collections.abc import Iterable

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def host_name(header: str | None) -> str | None:
    """The host name of a ``Host`` header, lower case, without port or brackets
    (``[::1]:8080`` → ``::1``); None when there is none or it is malformed."""
    if not header:
        return None
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not _port(value[end + 1 :])):
            return None
        name = value[1:end]
    elif value.count(":") == 1:
        name, port = value.split(":")
        if not port.isdigit():
            return None
    elif ":" in value:
        return None  # a bare IPv6 address must be in brackets
    else:
        name = value
    name = name.rstrip(".")
    return name or None


def _port(rest: str) -> bool:
    return rest.startswith(":") and rest[1:].isdigit()


def allowed(header: str | None, extra: Iterable[str]) -> bool:
    """Whether the UI should answer a request with this ``Host`` header."""
    name = host_name(header)
    if name is None:
        return False
    return name in LOOPBACK or name in {n.strip().lower().rstrip(".") for n in extra}
