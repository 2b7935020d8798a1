"""One event loop, in a daemon thread, that runs every endpoint member's batches: a member's
per-minute limiters (aiolimiter's belong to one loop) keep counting across batches and caller threads,
and sync code (Kedro nodes, a notebook whose own loop is running) just waits for the result."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

_lock = threading.Lock()
_loops: dict[int, asyncio.AbstractEventLoop] = {}  # by process id: a forked child starts its own


def shared_loop() -> asyncio.AbstractEventLoop:
    with _lock:
        loop = _loops.get(os.getpid())
        if loop is None:
            loop = _loops[os.getpid()] = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="r2-endpoints", daemon=True).start()
        return loop


def run_sync(make_coro: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine on the shared loop and wait for it; an interrupt here cancels it there."""
    loop = shared_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_sync called from the shared endpoint loop would wait on itself")
    future = asyncio.run_coroutine_threadsafe(make_coro(), loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


def cancel_all() -> None:
    """Cancel every batch in flight on this process's loop, whichever thread sent it."""
    with _lock:
        loop = _loops.get(os.getpid())
    if loop is not None:
        loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])


@contextlib.contextmanager
def interrupts_cancel_all() -> Iterator[None]:
    """An interrupt (Ctrl-C, SystemExit) in a thread that waits on batches sent from other threads
    cancels them all, as `run_sync` cancels its own; an error lets them finish, so what they paid
    for reaches the call cache."""
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception):
            cancel_all()
        raise
