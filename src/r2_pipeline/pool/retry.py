"""Retrying endpoint requests: which failures are worth another attempt, and how long to wait (the
server's Retry-After, else exponential backoff with jitter, by tenacity)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping

from tenacity import RetryCallState, wait_exponential, wait_random_exponential


class Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's own wait, when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


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
