"""A step's batches: endpoint members answer at once, in-process members one at a time in the calling
thread, and the traces are those of asking the members one after another."""

from __future__ import annotations

import threading
import time

import pytest

from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.reasoning.execute import execute, generate_batches
from r2_pipeline.tasks.micro.task import TASK

PRICE = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "d", "source": "s"}
QUESTIONS = [f"q{i}" for i in range(6)]
PLANS = [["001 + 002", "#1 + 003"], ["004 + 005"], ["006 + 007", "#1 * 002"], ["008 + 009"], None,
         ["010 + 011", "#1 + 001", "#2 + 001"]]


class Clock:
    """What the fakes share: who is answering now, the most at once, and which threads answered."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.threads: dict[str, set[str]] = {}

    def enter(self, member: str) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.setdefault(member, set()).add(threading.current_thread().name)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


class Member:
    """Answers `<sum of the prompt's digits + offset>` after `delay` seconds; `gate` (a Barrier) holds
    a batch until every other party's batch has started, so passing it proves they were asked at once."""

    def __init__(self, name: str, clock: Clock, concurrent: bool, offset: int = 0, gate=None, fail=False,
                 delay: float = 0.0):
        self.name, self.clock, self.concurrent, self.offset = name, clock, concurrent, offset
        self.gate, self.fail, self.delay, self.fingerprint = gate, fail, delay, name

    def generate(self, prompts, sampling):
        self.clock.enter(self.name)
        try:
            if self.gate is not None:
                self.gate.wait(timeout=10)
            time.sleep(self.delay)
            if self.fail:
                raise RuntimeError(f"{self.name} is down")
            return [Completion(f"{(sum(map(int, filter(str.isdigit, p))) + self.offset) % 1000:03d}", len(p), 4)
                    for p in prompts]
        finally:
            self.clock.leave()


def pool_of(members: list[Member]) -> ModelPool:
    return ModelPool({m.name: m for m in members}, PriceTable.from_config({m.name: PRICE for m in members}))


def round_robin(names: list[str]):
    return lambda idx, step, filled, histories: [names[(i + step) % len(names)] for i in idx]


def run(pool: ModelPool) -> list[list[dict]]:
    traces = execute(pool, TASK, QUESTIONS, PLANS, round_robin(pool.members), SamplingParams())
    return [[t.to_dict() for t in trace] for trace in traces]


def test_endpoint_members_answer_a_step_at_once():
    clock, gate = Clock(), threading.Barrier(3)
    pool = pool_of([Member(f"e{k}", clock, concurrent=True, gate=gate) for k in range(3)])
    generate_batches(pool, [(m, ["001 + 002="]) for m in pool.members], SamplingParams())
    assert clock.most == 3 and not gate.broken


def test_in_process_members_answer_in_turn_in_the_calling_thread_while_endpoints_answer():
    clock, gate = Clock(), threading.Barrier(2)  # the local member and the endpoint meet at the gate
    members = [Member("local_a", clock, concurrent=False, gate=gate), Member("local_b", clock, concurrent=False),
               Member("remote", clock, concurrent=True, gate=gate)]
    generate_batches(pool_of(members), [(m.name, ["001 + 002="]) for m in members], SamplingParams())
    here = threading.current_thread().name
    assert clock.threads["local_a"] == clock.threads["local_b"] == {here}
    assert clock.threads["remote"] != {here} and clock.most == 2


def test_traces_are_those_of_the_members_asked_in_turn():
    """Members of different speeds finish in any order; the traces, their order and the ledger are the
    sequential run's."""
    def members(concurrent: bool) -> list[Member]:
        # the first member is the slowest: the batches end in the reverse of their order
        return [Member(f"m{k}", Clock(), concurrent, offset=k, delay=0.02 * (2 - k)) for k in range(3)]

    in_turn, at_once = pool_of(members(False)), pool_of(members(True))
    traces = run(at_once)
    assert traces == run(in_turn)
    assert all(t["value"] is not None for trace in traces for t in trace)  # each answer fed the next step
    assert at_once.ledger.calls == in_turn.ledger.calls and sum(in_turn.ledger.calls.values()) == 9
    assert at_once.ledger.cost(at_once.prices) == in_turn.ledger.cost(in_turn.prices)


def test_a_failed_batch_raises_after_the_others_are_answered():
    clock = Clock()
    members = [Member("first", clock, True), Member("down", clock, True, fail=True),
               Member("also_down", clock, True, fail=True), Member("last", clock, True)]
    pool = pool_of(members)
    with pytest.raises(RuntimeError, match="^down is down"):  # the first failed batch in order
        generate_batches(pool, [(m.name, ["001 + 002="]) for m in members], SamplingParams())
    assert pool.ledger.calls == {"first": 1, "last": 1}


def test_an_unknown_member_is_named():
    pool = pool_of([Member("e0", Clock(), True), Member("e1", Clock(), True)])
    with pytest.raises(KeyError, match="unknown pool member 'nobody'"):
        generate_batches(pool, [("e0", ["1"]), ("nobody", ["2"])], SamplingParams())
