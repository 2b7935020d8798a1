"""A circuit breaker for one member's batch: a dead endpoint ends the batch at once, with one error,
instead of being sent every unanswered prompt and every retry until each gives up."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Breaker:
    """Opens after `failures` connection failures in a row, all within `window_s` seconds; any answer
    from the server (even a 429 or a 503: busy, not dead) starts the count again. Opening calls
    `on_open` once, which closes the batch: nothing more is sent, retries waiting stop."""

    def __init__(
        self,
        failures: int,
        window_s: float,
        on_open: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self.failures = failures
        self.window_s = window_s
        self.on_open = on_open
        self.clock = clock
        self._times: deque[float] = deque()
        self.reason: str | None = None  # the last failure before opening; None while closed
        self.count, self.span_s = 0, 0.0  # what opened it

    @property
    def is_open(self) -> bool:
        return self.reason is not None

    def answered(self) -> None:
        self._times.clear()

    def failed(self, reason: str) -> None:
        """A connection failure (refused, reset, DNS, timeout)."""
        now = self.clock()
        self._times.append(now)
        while now - self._times[0] > self.window_s:
            self._times.popleft()
        if len(self._times) >= self.failures and not self.is_open:
            self.reason, self.count, self.span_s = reason, len(self._times), now - self._times[0]
            self.on_open()

    def describe(self) -> str:
        return (f"{self.count} connection failures in a row within {self.span_s:.1f}s "
                f"(last: {self.reason})")
