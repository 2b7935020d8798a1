"""Client-side politeness for one endpoint: a cap on requests in flight, and requests-per-minute and
tokens-per-minute budgets (aiolimiter's leaky buckets)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter


class BatchStopped(Exception):
    """Raised in requests not yet sent once the batch has failed: nothing more is sent or paid for."""


class RateLimiter:
    """Bounds one batch's requests: at most `max_concurrency` in flight, starts paced by the
    member's `requests` and `tokens` limiters, which outlive the batch (a minute's budget spans
    batches; both must be used on one event loop, see `loop.run_sync`).

    `pause` lets a 429 with Retry-After hold back every request of the batch, not only the one that
    was refused: the server has told us the whole client is over its budget. `close` stops new
    requests but lets those in flight finish, so answers already paid for still reach the cache.
    """

    def __init__(
        self,
        max_concurrency: int,
        requests: AsyncLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        tokens: AsyncLimiter | None = None,
        slots: asyncio.Semaphore | None = None,
    ):
        """`slots`: the member's cap on requests in flight, shared with its other batches; without
        it the batch has a cap of `max_concurrency` of its own."""
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._slots = slots if slots is not None else asyncio.Semaphore(max_concurrency)
        self._requests = requests
        self._tokens = tokens
        self._clock = clock
        self._resume_at = 0.0
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

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
            if self.closed:
                raise BatchStopped
            yield

    async def _wait_turn(self, tokens: float) -> None:
        if self._requests is not None:
            await self._unless_closed(self._requests.acquire())
        if self._tokens is not None and tokens > 0:
            await self._unless_closed(self._tokens.acquire(tokens))
        while (delay := self._resume_at - self._clock()) > 0 and not self.closed:
            await self.sleep(delay)

    async def _unless_closed(self, acquire: Awaitable[None]) -> None:
        """Wait for a budget, or stop waiting when the batch closes: a cancelled wait takes nothing."""
        waiting = asyncio.ensure_future(acquire)
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({waiting, closing}, return_when=asyncio.FIRST_COMPLETED)
            if waiting.done():
                waiting.result()  # an amount the limiter can never hold raises here
        finally:
            waiting.cancel()
            closing.cancel()


def requests_limiter(requests_per_minute: float | None, max_concurrency: int) -> AsyncLimiter | None:
    """A limiter for a per-minute request limit; bursts stay within the in-flight cap so starts
    spread evenly."""
    if not requests_per_minute:
        return None
    burst = max(1, min(max_concurrency, int(requests_per_minute)))
    return AsyncLimiter(burst, time_period=burst * 60.0 / requests_per_minute)


def tokens_limiter(tokens_per_minute: float | None) -> AsyncLimiter | None:
    """A limiter for a per-minute token limit, as OpenAI-style APIs count it (prompt tokens plus
    `max_tokens` per request, refilled continuously): a full minute's tokens can start at once."""
    if not tokens_per_minute:
        return None
    return AsyncLimiter(tokens_per_minute, time_period=60.0)
