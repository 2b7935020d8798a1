"""The spending cap (pool/budget.py): the bound of a batch, the check against the caps (table-driven),
and the pool sending no batch that would cross a cap, with cached answers free on a rerun."""

from __future__ import annotations

import threading

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from pydantic import ValidationError

from r2_pipeline.hooks import NO_POOL_CALLS, EndpointPreflightHook, RunBudgetHook
from r2_pipeline.pool import budget as budget_module
from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.budget import (
    BatchBound,
    Budget,
    BudgetExceeded,
    Caps,
    Spend,
    batch_bound,
    prompt_tokens,
    refusal,
)
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.pool.params import PoolParams
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import Price, PriceTable

SAMPLING = SamplingParams(max_new_tokens=10)
# $1 per 1M prompt tokens, $2 per 1M completion tokens: a 4-character prompt (1 token) with 10 new
# tokens is bounded at $21e-6
PRICES = PriceTable({"a": Price(1.0, 2.0, "2026-01-01", "test"), "b": Price(1.0, 2.0, "2026-01-01", "test")})
PROMPT_USD = 21e-6


class Counting:
    """A batching member that answers `max_new_tokens // 2` tokens, counting its prompts a token per
    4 characters (as the bound does without a tokenizer)."""

    def __init__(self, batch_size: int = 2, fingerprint: str = "counting"):
        self.batch_size, self.fingerprint = batch_size, fingerprint
        self.batches: list[list[str]] = []

    def generate(self, prompts, sampling):
        self.batches.append(list(prompts))
        return [Completion(f"answer to {p}", -(-len(p) // 4), sampling.max_new_tokens // 2) for p in prompts]


def bound(usd: float) -> BatchBound:
    return BatchBound(prompts=1, prompt_tokens=1, completion_tokens=1, usd=usd)


@pytest.mark.parametrize(
    ("caps", "paid", "held", "member", "usd", "refused_by"),
    [
        (Caps(), {"a": 100.0}, {}, "a", 1.0, None),  # no cap: anything goes
        (Caps(total=1.0), {}, {}, "a", 1.0, None),  # exactly at the cap: sent
        (Caps(total=1.0), {}, {}, "a", 1.0 + 1e-6, "pool.budget_usd"),
        (Caps(total=1.0), {"a": 0.3, "b": 0.3}, {}, "a", 0.4, None),  # the run's cap counts every member
        (Caps(total=1.0), {"a": 0.3, "b": 0.3}, {}, "a", 0.5, "pool.budget_usd"),
        (Caps(total=1.0), {"a": 0.3}, {"b": 0.5}, "a", 0.3, "pool.budget_usd"),  # a batch in flight counts
        (Caps(members={"a": 0.5}), {"a": 0.4, "b": 9.0}, {}, "a", 0.1, None),  # a's cap ignores b
        (Caps(members={"a": 0.5}), {"a": 0.4}, {}, "a", 0.2, "pool.member_budget_usd.a"),
        (Caps(members={"a": 0.5}), {"b": 9.0}, {}, "b", 1.0, None),  # b is not capped
        (Caps(total=10.0, members={"a": 0.5}), {"a": 0.4}, {"a": 0.1}, "a", 0.1, "pool.member_budget_usd.a"),
        (Caps(total=0.0), {}, {}, "a", 0.0, None),  # a zero cap admits only free batches
        (Caps(total=0.0), {}, {}, "a", 1e-6, "pool.budget_usd"),
    ],
)
def test_a_batch_is_refused_exactly_when_it_would_cross_a_cap(caps, paid, held, member, usd, refused_by):
    reason = refusal(caps, paid, held, member, bound(usd))
    if refused_by is None:
        assert reason is None
    else:
        assert f"cap {refused_by} = " in reason and repr(member) in reason


def test_the_refusal_names_member_spent_cap_and_bound():
    reason = refusal(Caps(total=2.5), {"a": 1.25}, {"b": 0.5}, "a", BatchBound(3, 40, 30, 0.9))
    assert reason == ("pool member 'a': the next batch (3 prompts, at most 40 prompt and 30 completion tokens: up "
                      "to $0.9) would cross the cap pool.budget_usd = $2.5: the run has spent $1.25 and $0.5 held "
                      "by batches in flight. The batch was not sent")


class Tokenizing:
    def tokenizer(self, text):
        return {"input_ids": text.split()}


class Endpoint:
    def request_tokens(self, prompt, sampling):
        return 7 + sampling.max_new_tokens


@pytest.mark.parametrize(
    ("backend", "expected"),
    [(object(), [1, 2, 3]), (Tokenizing(), [1, 1, 3]), (Endpoint(), [7, 7, 7])],
)
def test_prompt_tokens_are_counted_the_way_the_backend_counts_them(backend, expected):
    assert prompt_tokens(backend, ["abcd", "abcde", "ab cd efgh"], SAMPLING) == expected


def test_the_bound_prices_every_prompt_and_max_new_tokens_per_answer():
    found = batch_bound(PRICES, "a", object(), ["abcd", "abcdefgh"], SAMPLING)
    assert found == BatchBound(2, 3, 20, pytest.approx((3 * 1.0 + 20 * 2.0) / 1e6))


def test_a_local_members_bound_counts_its_prompts_as_it_is_charged(tiny_model_dir):
    from r2_pipeline.pool.local import TransformersBackend

    backend = TransformersBackend(tiny_model_dir)
    prompts = ["abc", "hello world", "12+34="]
    answers = backend.generate(prompts, SamplingParams(max_new_tokens=6))
    assert prompt_tokens(backend, prompts, SAMPLING) == [c.prompt_tokens for c in answers]
    assert all(c.completion_tokens <= 6 for c in answers)


def capped_pool(tmp_path, caps: Caps, spend: Spend | None = None, batch_size: int = 2):
    backend = Counting(batch_size)
    budget = Budget(caps, PRICES, spend or Spend())
    return ModelPool({"a": backend, "b": Counting(batch_size, "b")}, PRICES, CallCache(tmp_path / "calls.sqlite"),
                     budget), backend


def test_the_cap_stops_before_the_batch_that_would_cross_it_and_a_rerun_pays_only_the_rest(tmp_path):
    """Batches of 2 four-character prompts: bound $42e-6, real cost $22e-6 (1 token in, 5 out each).
    A cap of $100e-6 admits a batch while the real spend so far plus its bound fits: the 3rd (44 + 42)
    does, the 4th (66 + 42) does not."""
    prompts = [f"q{i:03d}" for i in range(8)]
    pool, backend = capped_pool(tmp_path, Caps(total=100e-6))
    with pytest.raises(BudgetExceeded) as refused:
        pool.generate("a", prompts, SAMPLING)
    assert [len(b) for b in backend.batches] == [2, 2, 2]  # in cache-key order, not the prompts' own
    sent = {p for b in backend.batches for p in b}
    message = str(refused.value)
    assert "pool member 'a'" in message and "pool.budget_usd = $0.0001:" in message
    assert "the run has spent $6.6e-05" in message and "up to $4.2e-05" in message
    assert pool.budget.spend.paid["a"] == pytest.approx(66e-6)
    assert "raise the cap and rerun" in message

    resumed, again = capped_pool(tmp_path, Caps(total=1.0))
    answers = resumed.generate("a", prompts, SAMPLING)
    assert [set(b) for b in again.batches] == [set(prompts) - sent]  # only the batch the cap stopped
    assert [a.text for a in answers] == [f"answer to {p}" for p in prompts]
    assert resumed.budget.spend.paid["a"] == pytest.approx(22e-6)  # cached answers cost the run nothing


def test_a_members_cap_stops_that_member_only(tmp_path):
    pool, backend = capped_pool(tmp_path, Caps(members={"a": 50e-6}))
    pool.generate("a", ["q001", "q002"], SAMPLING)
    with pytest.raises(BudgetExceeded, match=r"cap pool.member_budget_usd.a = \$5e-05"):
        pool.generate("a", ["q003", "q004"], SAMPLING)
    pool.generate("b", [f"q{i}" for i in range(10, 20)], SAMPLING)  # b has no cap
    assert len(backend.batches) == 1


def test_without_a_cache_the_refusal_says_a_rerun_pays_again():
    pool = ModelPool({"a": Counting()}, PRICES, None, Budget(Caps(total=0.0), PRICES, resumable=False))
    with pytest.raises(BudgetExceeded, match="Without pool.cache_path a rerun pays again"):
        pool.generate("a", ["q001"], SAMPLING)


def test_uncapped_pools_still_book_what_they_paid(tmp_path):
    pool = ModelPool({"a": Counting()}, PRICES, CallCache(tmp_path / "c.sqlite"))
    pool.generate("a", ["q001", "q002", "q003"], SAMPLING)
    pool.generate("a", ["q001"], SAMPLING)
    assert pool.budget.spend.paid["a"] == pytest.approx(3 * 11e-6)


class Gate:
    """A member whose batch waits until `release` is set: a batch in flight while another thread asks."""

    fingerprint = "gate"

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    def generate(self, prompts, sampling):
        self.started.set()
        self.release.wait(10)
        return [Completion("x", 1, 1) for _ in prompts]


def test_two_threads_cannot_both_slip_under_the_cap():
    """Room for one batch's bound: while the first is in flight, its bound is held, so the second
    thread's batch is refused though nothing is paid yet."""
    spend, gate = Spend(), Gate()
    pool = ModelPool({"a": gate, "b": Counting()}, PRICES, None, Budget(Caps(total=30e-6), PRICES, spend))
    first = threading.Thread(target=pool.generate, args=("a", ["abcd"], SAMPLING))
    first.start()
    assert gate.started.wait(10)
    with pytest.raises(BudgetExceeded, match=r"spent \$0 and \$2.1e-05 held by batches in flight"):
        pool.generate("b", ["abcd"], SAMPLING)
    gate.release.set()
    first.join()
    assert spend.held["a"] == pytest.approx(0.0) and spend.paid["a"] == pytest.approx(3e-6)


def test_a_failed_batch_releases_its_hold():
    class Failing:
        fingerprint = "failing"

        def generate(self, prompts, sampling):
            raise RuntimeError("the server went away")

    spend = Spend()
    pool = ModelPool({"a": Failing()}, PRICES, None, Budget(Caps(total=1.0), PRICES, spend))
    with pytest.raises(RuntimeError, match="went away"):
        pool.generate("a", ["abcd", "efgh"], SAMPLING)
    assert spend.held["a"] == pytest.approx(0.0) and spend.total == 0.0


def test_an_endpoint_batch_books_each_answer_as_it_arrives(tmp_path):
    class Streaming:
        fingerprint = "streaming"

        def generate(self, prompts, sampling, on_result=None):
            out = [Completion(p, 1, 2) for p in prompts]
            for i, c in enumerate(out[:2]):
                on_result(i, c)
            raise RuntimeError("the server went away")

    spend = Spend()
    pool = ModelPool({"a": Streaming()}, PRICES, CallCache(tmp_path / "c.sqlite"), Budget(Caps(total=1.0), PRICES,
                                                                                           spend))
    with pytest.raises(RuntimeError):
        pool.generate("a", ["abcd", "efgh", "ijkl"], SAMPLING)
    assert spend.paid["a"] == pytest.approx(2 * 5e-6) and spend.held["a"] == pytest.approx(0.0)


# ----- parameters and hooks -----


def pool_block(**extra) -> dict:
    price = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "2026-01-01", "source": "test"}
    return {"members": {"a": {"backend": "transformers"}}, "prices": {"a": price}, "price_table": "t", **extra}


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"budget_usd": -1}, "budget_usd"),
        ({"member_budget_usd": {"a": -0.5}}, "member_budget_usd.a"),
        ({"member_budget_usd": {"gpt_5": 1.0}}, "member_budget_usd caps ['gpt_5'], which are not pool members"),
        ({"budget": 10}, "budget"),  # a misspelt key is refused, not ignored
    ],
)
def test_bad_caps_are_refused_naming_the_key(extra, error):
    with pytest.raises(ValidationError, match=error.replace("[", r"\[").replace("]", r"\]")):
        PoolParams.model_validate(pool_block(**extra))


def test_caps_are_read_from_the_pool_block():
    checked = PoolParams.model_validate(pool_block(budget_usd=25, member_budget_usd={"a": 5})).model_dump()
    assert Caps.from_params(checked) == Caps(25.0, {"a": 5.0})
    assert not Caps.from_params(pool_block())


def test_each_pipeline_run_starts_with_nothing_spent():
    budget_module.RUN.paid["a"] += 3.0
    RunBudgetHook().before_pipeline_run()
    assert budget_module.RUN.total == 0.0


def test_the_preflight_skips_nodes_that_send_no_call(monkeypatch):
    checked = []
    monkeypatch.setattr("r2_pipeline.pool.preflight.check_endpoints", checked.append)
    catalog = DataCatalog({"params:pool": MemoryDataset({"members": {}})})
    quiet = Pipeline([Node(lambda pool: None, "params:pool", None, name="estimate_node", tags=[NO_POOL_CALLS])])
    EndpointPreflightHook().before_pipeline_run({}, quiet, catalog)
    assert checked == []
    calling = Pipeline([Node(lambda pool: None, "params:pool", None, name="call_node")])
    EndpointPreflightHook().before_pipeline_run({}, calling, catalog)
    assert checked == [{"members": {}}]


def test_each_process_of_a_launch_gets_its_share_of_the_caps():
    """GRPO rollouts call the pool on every process, each counting its own spend: together they stay
    within the caps."""
    from r2_pipeline.pool.budget import Caps

    caps = Caps.from_params({"budget_usd": 10.0, "member_budget_usd": {"t5": 4.0}}, processes=4)
    assert caps.total == 2.5 and caps.members == {"t5": 1.0}
    assert not Caps.from_params({"budget_usd": None}, processes=2)
