"""How often a wrong password may be tried: per client address, and over all clients.

Per address, a few failures are free; after that each failure closes the door for
twice as long as the one before (1 s, 2 s, 4 s … up to an hour), so guessing costs
hours, not seconds, while a person who mistypes waits a second or two. A day
without failures forgets the address. Over all addresses a budget of failures
refills slowly, so many addresses together still guess slowly. Time comes from
the injected clock's ``monotonic()``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from watcher.core.clock import Clock

FREE_FAILURES = 5  # per address before the first wait
FIRST_WAIT = 1.0  # seconds, doubled at each further failure
LONGEST_WAIT = 3600.0
FORGET_AFTER = 86400.0  # seconds without a failure
GLOBAL_BUDGET = 30  # failures all addresses together may make at once ...
GLOBAL_REFILL = 60.0  # ... and one more every this many seconds
MAX_ADDRESSES = 10_000  # addresses remembered; the oldest quiet ones go first


@dataclass(slots=True)
class _Record:
    failures: int = 0
    closed_until: float = 0.0
    last_failure: float = 0.0


class LoginLimiter:
    """Failed password attempts, remembered per client address and over all."""

    def __init__(
        self,
        clock: Clock,
        *,
        free: int = FREE_FAILURES,
        first_wait: float = FIRST_WAIT,
        longest_wait: float = LONGEST_WAIT,
        budget: int = GLOBAL_BUDGET,
        refill: float = GLOBAL_REFILL,
    ) -> None:
        self.clock = clock
        self.free = free
        self.first_wait = first_wait
        self.longest_wait = longest_wait
        self.budget = budget
        self.refill = refill
        self._records: dict[str, _Record] = {}
        self._tokens = float(budget)
        self._refilled_at = clock.monotonic()

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try a password again (0: now)."""
        now = self.clock.monotonic()
        self._refill(now)
        wait = 0.0
        record = self._records.get(client_key(address))
        if record is not None:
            wait = max(wait, record.closed_until - now)
        if self._tokens < 1:
            wait = max(wait, (1 - self._tokens) * self.refill)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str) -> None:
        """A wrong password from ``address``: its next wait, and one less in the budget."""
        now = self.clock.monotonic()
        self._refill(now)
        self._tokens = max(0.0, self._tokens - 1)
        key = client_key(address)
        record = self._records.get(key)
        if record is None or now - record.last_failure > FORGET_AFTER:
            record = self._records[key] = _Record()
            self._forget_some(now)
        record.failures += 1
        record.last_failure = now
        over = record.failures - self.free
        if over > 0:
            wait = min(self.longest_wait, self.first_wait * 2 ** min(over - 1, 32))
            record.closed_until = now + wait

    def succeeded(self, address: str) -> None:
        """The right password: the address starts afresh (the global budget does not)."""
        self._records.pop(client_key(address), None)

    def _refill(self, now: float) -> None:
        gained = (now - self._refilled_at) / self.refill
        self._tokens = min(float(self.budget), self._tokens + gained)
        self._refilled_at = now

    def _forget_some(self, now: float) -> None:
        """Keep memory bounded: addresses quiet for a day go, then the quietest."""
        if len(self._records) <= MAX_ADDRESSES:
            return
        for key, record in list(self._records.items()):
            if now - record.last_failure > FORGET_AFTER and record.closed_until <= now:
                del self._records[key]
        while len(self._records) > MAX_ADDRESSES:
            oldest = min(self._records, key=lambda k: self._records[k].last_failure)
            del self._records[oldest]


def client_key(address: str) -> str:
    """What one client is: its IPv4 address, or its IPv6 /64 (one machine's share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
