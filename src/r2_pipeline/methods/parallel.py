"""Method runs at once where they cannot meet: runs that share a model (an endpoint member, or a
model in this process) keep their listed order; the others run together on threads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ..pool.base import runs_concurrently
from ..pool.loop import interrupts_cancel_all
from .base import Method

T = TypeVar("T")

# what every run that computes in this process holds: such runs go one at a time, in the calling thread
IN_PROCESS = "in-process"


def held_models(method: Method, pool: Any) -> frozenset[str]:
    """What a run of `method` holds: the cache identity (fingerprint) of each member it may call (the
    members its spec names, else every member), and IN_PROCESS when it computes here (a trained
    router, an in-process member, or a member the pool lacks: the run then fails in order, naming it)."""
    backends = [pool.backends.get(name) for name in method.named_members() or pool.members]
    held = {backend.fingerprint for backend in backends if backend is not None}
    if method.uses_router or not all(runs_concurrently(backend) for backend in backends):
        held.add(IN_PROCESS)
    return frozenset(held)


def run_in_order(runs: Sequence[Callable[[], T]], holds: Sequence[frozenset[str]], workers: int,
                 then: Callable[[int, T], Any]) -> None:
    """Call every run, and `then(i, result)` on each in the calling thread, in the listed order.

    A run starts once every earlier run that holds a model it holds has ended: two runs that could
    ask one member the same prompt (the second then reads the first's answer from the call cache) or
    that both compute here run as listed, so the results are those of running all in turn. Runs that
    hold IN_PROCESS run in the calling thread, the others on up to `workers` threads; `workers` 1
    runs each in turn in the calling thread. A run that fails raises its error once the runs already
    started have ended (what they paid for is in the call cache); runs not yet started never start.
    An interrupt cancels the endpoint batches in flight first."""
    if workers <= 1:
        for i, run in enumerate(runs):
            then(i, run())
        return
    futures: list[Future] = []
    reported = 0
    executor = ThreadPoolExecutor(workers, thread_name_prefix="r2-method")
    try:
        with interrupts_cancel_all():
            for run, held in zip(runs, holds):
                before = [future for future, earlier in zip(futures, holds) if earlier & held]
                if IN_PROCESS in held:
                    reported = _report(futures, reported, then)
                    futures.append(_done(_after(before, run)))
                else:
                    # each run waits only on earlier ones, and the executor starts runs in the order
                    # given: the earliest run not ended can always run, so waiting never deadlocks
                    futures.append(executor.submit(_after, before, run))
            _report(futures, reported, then, wait=True)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _after(before: list[Future], run: Callable[[], T]) -> T:
    for future in before:
        future.result()  # an earlier run that failed fails this one too; the earlier error is raised first
    return run()


def _done(value: T) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _report(futures: list[Future], reported: int, then: Callable[[int, Any], Any], wait: bool = False) -> int:
    """`then` on the runs ended since the first `reported`, in the listed order, up to the first
    still running (with `wait`, on all); returns how many are reported."""
    for i in range(reported, len(futures)):
        if not (wait or futures[i].done()):
            return i
        then(i, futures[i].result())
    return len(futures)
