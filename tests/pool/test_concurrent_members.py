"""Endpoint members at once against a real `transformers serve` behind delaying proxies: one member's
limits hold across threads, and a step's members are asked together with the traces of asking them
in turn."""

from __future__ import annotations

import threading
import time

import pytest

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.openai_backend import OpenAIBackend
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.reasoning.execute import execute, generate_batches

pytestmark = pytest.mark.server

SAMPLING = SamplingParams(max_new_tokens=6)
PRICE = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "d", "source": "s"}
DELAY_S = 0.8


@pytest.fixture(scope="module")
def proxies(_proxy, live_server):
    """Three proxies in front of the one server: three endpoints, three cache identities."""
    extra = [type(_proxy)(live_server.url) for _ in range(2)]
    for proxy in extra:
        proxy.start()
    yield [_proxy, *extra]
    for proxy in extra:
        proxy.stop()


class Words:
    """A task whose subtask prompt is the subtask itself and whose answer is the text."""

    def substitute(self, subtask: str, answers: list) -> str:
        return subtask

    def subtask_prompt(self, question: str, history: list, subtask: str) -> str:
        return subtask

    def parse_subtask(self, prompt: str, text: str) -> str:
        return text


def slow(proxies, requests: int) -> None:
    for proxy in proxies:
        proxy.reset()
        proxy.faults.extend({"delay": DELAY_S} for _ in range(requests))


def backend(proxy, tiny_model_dir, **kwargs) -> OpenAIBackend:
    return OpenAIBackend(proxy.url, str(tiny_model_dir), backoff_s=0.02, timeout_s=20, **kwargs)


def test_a_members_in_flight_cap_holds_for_batches_sent_from_several_threads(proxy, tiny_model_dir):
    member = backend(proxy, tiny_model_dir, max_concurrency=2)
    batches = [[f"{t} + {i} =" for i in range(3)] for t in range(3)]
    proxy.faults.extend({"delay": 0.2} for _ in range(9))  # requests that overlap if nothing holds them
    answers: dict[int, list] = {}
    threads = [threading.Thread(target=lambda t=t: answers.update({t: member.generate(batches[t], SAMPLING)}))
               for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert proxy.max_in_flight == 2 and len(proxy.posts()) == 9
    assert [answers[t] for t in range(3)] == [member.generate(batches[t], SAMPLING) for t in range(3)]


@pytest.mark.slow
def test_a_steps_endpoint_members_are_asked_together_with_the_traces_of_asking_them_in_turn(
    proxies, tiny_model_dir, monkeypatch
):
    names = ["a", "b", "c"]
    pool = ModelPool({n: backend(p, tiny_model_dir, name=n) for n, p in zip(names, proxies)},
                     PriceTable.from_config({n: PRICE for n in names}))
    plans = [[f"what is {i} {word}"] for i, word in enumerate(["cat", "dog", "sea", "tree", "sky", "rock"])]

    def run() -> list[list[dict]]:
        allocate = lambda idx, step, filled, histories: [names[i % 3] for i in idx]  # noqa: E731
        traces = execute(pool, Words(), [f"q{i}" for i in range(6)], plans, allocate, SAMPLING)
        return [[t.to_dict() for t in trace] for trace in traces]

    slow(proxies, 2)
    together = run()
    first_starts = sorted(p.starts[0] for p in proxies)
    # every member's first request arrived before the first one's delay was over
    assert first_starts[-1] - first_starts[0] < DELAY_S

    monkeypatch.setattr(OpenAIBackend, "concurrent", False)
    slow(proxies, 2)
    in_turn = run()
    first_starts = [p.starts[0] for p in proxies]
    assert all(later - earlier >= DELAY_S for earlier, later in zip(first_starts, first_starts[1:]))
    assert together == in_turn
    assert len({t[0]["text"] for t in together}) > 2  # the answers depend on the prompt: order is checked


class Interrupted:
    """An in-process member whose batch is interrupted (Ctrl-C) while an endpoint's is in flight."""

    fingerprint = "interrupted"

    def generate(self, prompts, sampling):
        time.sleep(0.3)
        raise KeyboardInterrupt


def test_an_interrupt_cancels_the_endpoint_batches_in_flight(proxies, tiny_model_dir):
    proxy = proxies[2]  # a proxy of this module's own: its requests still waiting touch no other test
    proxy.reset()
    proxy.faults.extend({"delay": 3.0} for _ in range(2))
    pool = ModelPool({"remote": backend(proxy, tiny_model_dir), "local": Interrupted()},
                     PriceTable.from_config({"remote": PRICE, "local": PRICE}))
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        generate_batches(pool, [("remote", ["what is 1", "what is 2"]), ("local", ["x"])], SAMPLING)
    assert time.monotonic() - start < 2.0  # not the 3 s the server takes
    assert len(proxy.posts()) == 2 and pool.ledger.calls == {}
