"""Method runs at once: what a run holds, runs that share a model keep their order, the others
overlap, results are handed on in the listed order in the calling thread."""

from __future__ import annotations

import threading
import time

import pytest

from r2_pipeline.methods.kinds import R2, QueryRouter, Single
from r2_pipeline.methods.parallel import IN_PROCESS, held_models, run_in_order
from r2_pipeline.pool.base import Completion
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable

PRICE = {"input_per_m": 1.0, "output_per_m": 1.0, "date": "d", "source": "s"}


class Fake:
    def __init__(self, fingerprint: str, concurrent: bool):
        self.fingerprint, self.concurrent = fingerprint, concurrent

    def generate(self, prompts, sampling):
        return [Completion("0", 1, 1) for _ in prompts]


def pool(**members: bool) -> ModelPool:
    return ModelPool({name: Fake(f"fp-{name}", concurrent) for name, concurrent in members.items()},
                     PriceTable.from_config({name: PRICE for name in members}))


def test_a_run_holds_its_members_and_in_process_work():
    endpoints, mixed = pool(a=True, b=True), pool(a=True, local=False)
    assert held_models(Single(member="a"), endpoints) == {"fp-a"}
    assert held_models(QueryRouter(), endpoints) == {"fp-a", "fp-b"}  # it may call every member
    assert held_models(Single(member="local"), mixed) == {"fp-local", IN_PROCESS}
    assert held_models(QueryRouter(), mixed) == {"fp-a", "fp-local", IN_PROCESS}
    assert held_models(R2(router="r2"), endpoints) == {"fp-a", "fp-b", IN_PROCESS}  # its router runs here
    assert held_models(Single(member="nobody"), endpoints) == {IN_PROCESS}  # fails in order, naming it


class Log:
    def __init__(self):
        self.lock, self.events, self.threads = threading.Lock(), [], {}

    def run(self, name: str, seconds: float = 0.0, gate=None, fail: bool = False):
        def run():
            with self.lock:
                self.events.append(f"{name} start")
                self.threads[name] = threading.current_thread()
            if gate is not None:
                gate.wait(timeout=10)
            time.sleep(seconds)
            if fail:
                raise RuntimeError(f"{name} failed")
            with self.lock:
                self.events.append(f"{name} end")
            return name
        return run


def in_order(runs, holds, workers: int) -> list[tuple[int, str, threading.Thread]]:
    handed = []
    run_in_order(runs, [frozenset(h) for h in holds], workers,
                 lambda i, result: handed.append((i, result, threading.current_thread())))
    return handed


def test_runs_that_share_nothing_overlap_and_results_come_in_order():
    log, gate = Log(), threading.Barrier(3)  # passing it needs all three started together
    runs = [log.run("a", 0.2, gate), log.run("b", 0.1, gate), log.run("c", 0.0, gate)]
    handed = in_order(runs, [{"x"}, {"y"}, {"z"}], workers=4)
    assert [(i, r) for i, r, _ in handed] == [(0, "a"), (1, "b"), (2, "c")]
    assert log.events.index("c end") < log.events.index("a end")  # c ended first, was handed on last
    assert {thread for _, _, thread in handed} == {threading.current_thread()}
    assert threading.current_thread() not in log.threads.values()


def test_runs_that_share_a_model_run_as_listed():
    log = Log()
    runs = [log.run("a", 0.05), log.run("b"), log.run("c", 0.02), log.run("d")]
    in_order(runs, [{"x"}, {"y"}, {"x", "y"}, {"x"}], workers=4)
    events = log.events
    assert events.index("a end") < events.index("c start") and events.index("b end") < events.index("c start")
    assert events.index("c end") < events.index("d start")


def test_in_process_runs_stay_in_the_calling_thread_in_turn():
    log = Log()
    runs = [log.run("local_1", 0.02), log.run("remote"), log.run("local_2")]
    in_order(runs, [{IN_PROCESS, "l1"}, {"r"}, {IN_PROCESS, "l2"}], workers=4)
    here = threading.current_thread()
    assert log.threads["local_1"] is here and log.threads["local_2"] is here and log.threads["remote"] is not here
    assert log.events.index("local_1 end") < log.events.index("local_2 start")


def test_one_worker_runs_everything_in_turn_in_the_calling_thread():
    log = Log()
    in_order([log.run(n) for n in "abc"], [{"x"}, {"y"}, {"z"}], workers=1)
    assert log.events == ["a start", "a end", "b start", "b end", "c start", "c end"]
    assert set(log.threads.values()) == {threading.current_thread()}


def test_long_chains_on_few_workers_end():
    """Runs waiting on earlier ones hold workers; the earliest unfinished run can always go on."""
    log, holds = Log(), [{"x"}, {"y"}, {"x", "y"}, {"z"}, {"x"}, {"z", "y"}, {"w"}, {"x", "w"}]
    done = threading.Event()
    worker = threading.Thread(target=lambda: (in_order([log.run(str(i)) for i in range(8)], holds, 2), done.set()))
    worker.start()
    assert done.wait(timeout=20)
    assert log.events.index("2 end") < log.events.index("4 start") < log.events.index("4 end") < log.events.index(
        "7 start")


def test_a_failed_run_raises_and_later_runs_on_its_model_never_run():
    log = Log()
    runs = [log.run("a", 0.05, fail=True), log.run("b", 0.1), log.run("c")]
    with pytest.raises(RuntimeError, match="a failed"):
        in_order(runs, [{"x"}, {"y"}, {"x"}], workers=4)
    assert "c start" not in log.events
    assert ("b start" in log.events) == ("b end" in log.events)  # a run under way ends before the error
