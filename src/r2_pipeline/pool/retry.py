"""Retrying endpoint requests: which failures are worth another attempt, how long to wait (the
server's Retry-After, else exponential backoff with jitter, by tenacity), and a log that sums a burst
of retries up in one line every few seconds instead of one line per request."""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping

from tenacity import RetryCallState, wait_exponential, wait_random_exponential

logger = logging.getLogger(__name__)

WARN_EVERY_S = 5.0


class Transient(Exception):
    """A failure worth retrying. `retry_after`: the server's own wait, when it gave one.
    `connection`: nothing answered (refused, reset, DNS, timeout), which counts toward the breaker;
    a server that answers, even 429 or 503, is busy, not dead."""

    def __init__(self, reason: str, retry_after: float | None = None, connection: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.connection = connection


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asked for: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else max(0.0, email.utils.mktime_tz(parsed) - time.time())


def backoff(backoff_s: float, max_backoff_s: float) -> Callable[[RetryCallState], float]:
    """A tenacity wait: the server's own wait when it is positive and at most `max_backoff_s`; else
    half to all of min(max_backoff_s, backoff_s * 2**retry), at random. `Retry-After: 0` would spend
    every retry at once, and a daily quota's hour would stall the whole batch (it then gives up after
    `max_retries`, answers already received kept); the jitter spreads a batch that failed together."""
    half = {"multiplier": backoff_s / 2, "max": max_backoff_s / 2}
    jittered = wait_exponential(**half) + wait_random_exponential(**half)

    def wait(state: RetryCallState) -> float:
        retry_after = getattr(state.outcome.exception(), "retry_after", None)
        if retry_after is not None and 0 < retry_after <= max_backoff_s:
            return retry_after
        return jittered(state)

    return wait


class RetryLog:
    """One member's retries: each at DEBUG, and a WARNING that counts them at most once every
    `every_s` seconds. A dead or throttling server fails many requests at once; a line per retry
    would bury the one error that ends the run."""

    def __init__(self, where: str, every_s: float = WARN_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.where = where
        self.every_s = every_s
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._since = 0.0
        self._warned_at = -math.inf

    def note(self, reason: str, attempt: int, delay: float) -> None:
        logger.debug("%s: %s; retry %d in %.2fs", self.where, reason, attempt, delay)
        if not self.counts:
            self._since = self.clock()
        self.counts[reason] += 1
        if self._due():
            self.flush()

    def flush(self) -> None:
        """Log the retries not yet counted: at WARNING when the last warning is old enough, else at
        INFO (a batch that ends calls this, so no retry goes unreported)."""
        if not self.counts:
            return
        level = logging.WARNING if self._due() else logging.INFO
        total = sum(self.counts.values())
        reasons = ", ".join(f"{reason} x{n}" for reason, n in self.counts.most_common())
        logger.log(level, "%s: %d %s in %.1fs (%s); each at DEBUG", self.where, total,
                   "retry" if total == 1 else "retries", self.clock() - self._since, reasons)
        self.counts.clear()
        if level == logging.WARNING:
            self._warned_at = self.clock()

    def _due(self) -> bool:
        return self.clock() - self._warned_at >= self.every_s
