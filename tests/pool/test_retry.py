"""The pieces of an endpoint's failure handling that need no server: the circuit breaker, the
summarised retry log and the backend's checks of their parameters."""

from __future__ import annotations

import logging

import pytest

from r2_pipeline.pool.breaker import Breaker
from r2_pipeline.pool.openai_backend import OpenAIBackend
from r2_pipeline.pool.retry import RetryLog


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_on_failures_in_a_row_within_the_window():
    clock, opened = Clock(), []
    breaker = Breaker(3, window_s=2.0, on_open=lambda: opened.append(clock.now), clock=clock)
    breaker.failed("APIConnectionError")
    breaker.failed("APIConnectionError")
    breaker.answered()  # the server answered (even a 429): the count starts again
    breaker.failed("APIConnectionError")
    clock.now = 3.0  # the first of these is older than the window by the third
    breaker.failed("APIConnectionError")
    clock.now = 4.5
    breaker.failed("APITimeoutError")
    assert not breaker.is_open and opened == []
    clock.now = 5.0
    breaker.failed("APITimeoutError")
    breaker.failed("APIConnectionError")  # a request in flight failing after: opens only once
    assert breaker.is_open and opened == [5.0]
    assert breaker.describe() == "3 connection failures in a row within 2.0s (last: APITimeoutError)"


def test_retries_are_summed_up_at_most_once_every_few_seconds(caplog):
    caplog.set_level(logging.DEBUG, logger="r2_pipeline.pool.retry")
    clock = Clock()
    log = RetryLog("pool member 't3'", every_s=5.0, clock=clock)
    log.note("APIConnectionError", 1, 0.5)  # the first is told at once
    for i in range(30):
        clock.now = i / 10
        log.note("HTTP 429" if i % 3 else "APIConnectionError", 1, 0.5)
    clock.now = 5.0
    log.note("HTTP 429", 2, 1.0)
    log.flush()  # nothing left to tell
    clock.now = 6.0
    log.note("HTTP 503", 1, 0.5)
    log.flush()  # a batch ends a second after the last warning: the rest at INFO
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == [
        ("WARNING", "pool member 't3': 1 retry in 0.0s (APIConnectionError x1); each at DEBUG"),
        ("WARNING", "pool member 't3': 31 retries in 5.0s (HTTP 429 x21, APIConnectionError x10); "
                    "each at DEBUG"),
        ("INFO", "pool member 't3': 1 retry in 0.0s (HTTP 503 x1); each at DEBUG"),
    ]
    assert sum(r.levelno == logging.DEBUG for r in caplog.records) == 33


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"breaker_failures": 0}, "breaker_failures must be a positive integer"),
        ({"breaker_failures": 2.5}, "breaker_failures must be a positive integer"),
        ({"breaker_failures": True}, "breaker_failures must be a positive integer"),
        ({"breaker_window_s": 0}, "breaker_window_s must be a positive number"),
        ({"breaker_window_s": -1.0}, "breaker_window_s must be a positive number"),
    ],
)
def test_breaker_parameters_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpenAIBackend("http://h:1/v1", "m", **kwargs)
