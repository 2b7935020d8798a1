"""Client-side politeness for one endpoint: a cap on requests in flight, and requests-per-minute and
tokens-per-minute buckets."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class BatchStopped(Exception):
    """Raised in requests not yet sent once the batch has failed: nothing more is sent or paid for."""


class TokenBucket:
    """Hands out start times at `rate_per_s`, allowing bursts of `burst`; thread-safe, loop-free.

    A caller reserves a token and is told how long to wait, so the bucket holds only numbers and can
    outlive the event loop of one batch (the per-minute budget spans batches).
    """

    def __init__(
        self, rate_per_s: float, burst: float = 1, clock: Callable[[], float] = time.monotonic
    ):
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate_per_s > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def reserve(self, amount: float = 1.0) -> float:
        """Take `amount` tokens now; return the seconds to wait before using them (0 when they were
        there). An amount above the burst can never be covered at once, and is refused."""
        if amount > self.burst:
            raise ValueError(f"cannot reserve {amount:g} at once from a bucket of {self.burst:g}")
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            return max(0.0, -self._tokens / self.rate)


class RateLimiter:
    """Bounds one batch's requests: at most `max_concurrency` in flight, starts paced by a bucket.

    `pause` lets a 429 with Retry-After hold back every request of the batch, not only the one that
    was refused: the server has told us the whole client is over its budget. `close` stops new
    requests but lets those in flight finish, so answers already paid for still reach the cache.
    """

    def __init__(
        self,
        max_concurrency: int,
        bucket: TokenBucket | None = None,
        clock: Callable[[], float] = time.monotonic,
        tokens: TokenBucket | None = None,
    ):
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._slots = asyncio.Semaphore(max_concurrency)
        self._bucket = bucket
        self._tokens = tokens
        self._clock = clock
        self._resume_at = 0.0
        self._closed = asyncio.Event()

    def pause(self, seconds: float) -> None:
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    def close(self) -> None:
        self._closed.set()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the batch is closed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout=max(0.0, seconds))

    @asynccontextmanager
    async def slot(self, tokens: float = 0) -> AsyncIterator[None]:
        """One request's turn; `tokens` is what it counts against a tokens-per-minute limit."""
        async with self._slots:
            await self._wait_turn(tokens)
            if self._closed.is_set():
                raise BatchStopped
            yield

    async def _wait_turn(self, tokens: float) -> None:
        waits = []
        if self._bucket is not None:
            waits.append(self._bucket.reserve())
        if self._tokens is not None and tokens > 0:
            waits.append(self._tokens.reserve(tokens))
        if waits:
            await self.sleep(max(waits))
        while (delay := self._resume_at - self._clock()) > 0 and not self._closed.is_set():
            await self.sleep(delay)


def bucket_for(requests_per_minute: float | None, max_concurrency: int) -> TokenBucket | None:
    """A bucket for a per-minute limit; bursts stay within the in-flight cap so starts spread evenly."""
    if not requests_per_minute:
        return None
    return TokenBucket(
        requests_per_minute / 60.0, burst=max(1, min(max_concurrency, int(requests_per_minute)))
    )


def token_bucket_for(tokens_per_minute: float | None) -> TokenBucket | None:
    """A bucket for a per-minute token limit, as OpenAI-style APIs count it (prompt tokens plus
    `max_tokens` per request, refilled continuously): a full minute's tokens can start at once."""
    if not tokens_per_minute:
        return None
    return TokenBucket(tokens_per_minute / 60.0, burst=tokens_per_minute)
