"""The spending cap and the estimate against a real `transformers serve` behind the counting proxy
(tests/pool/conftest.py): the estimate sends no request and counts what the run then sends; a cap
stops the run before the batch that would cross it; raised, a rerun sends only what was missing."""

from __future__ import annotations

import pytest

from r2_pipeline.pipelines.data_generation.nodes import generate_world
from r2_pipeline.pipelines.estimate.nodes import estimate_calls
from r2_pipeline.pipelines.evaluation.nodes import evaluate_methods
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.budget import BudgetExceeded, batch_bound, start_run
from r2_pipeline.pool.factory import pool_from_params

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.integration]

PRICE = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "2026-01-01", "source": "test"}
# one step a question: every prompt is known before the run (a later step's prompt holds the answers
# before it, which an untrained server gets wrong or leaves out, so the estimate is then a bound)
WORLD = {"seed": 7, "sizes": {"train": 1, "validation": 1, "test": 8}, "min_steps": 1, "max_steps": 1,
         "bucket_weights": [1, 0, 0, 0, 0]}
SAMPLING = SamplingParams(max_new_tokens=6)
# four batches of four prompts of one length (in the served model's alphabet): alike bounds
BATCHES = [[f"{a}{b} + {c}{b} =" for a, c in zip("abcd", "wxyz")] for b in "0123"]


def pool_block(proxy, tiny_model_dir, cache, **caps) -> dict:
    member = {"backend": "openai", "base_url": proxy.url, "model": str(tiny_model_dir),
              "tokenizer_path": str(tiny_model_dir), "max_concurrency": 2}
    return {"members": {"tiny": member}, "prices": {"tiny": PRICE}, "price_table": "test",
            "cache_path": str(cache), **caps}


def test_the_estimate_sends_nothing_and_counts_what_the_run_sends(proxy, tiny_model_dir, tmp_path):
    pool = pool_block(proxy, tiny_model_dir, tmp_path / "calls.sqlite")
    evaluation = {"benchmarks": {"micro": {}}, "methods": ["single"], "seeds": [0, 1],
                  "sampling": {"max_new_tokens": 4}, "experiment": "e"}
    estimate = {"pipelines": ["evaluation"], "assumptions": {"subtasks_per_question": 3, "subtask_chars": 120,
                                                            "answer_chars": 40, "allocation": "dearest"}}

    def estimated() -> dict:
        table = estimate_calls(pool, evaluation, {"world": WORLD}, None, estimate)
        return table[(table["stage"] == "evaluation") & (table["member"] == "tiny")].iloc[0].to_dict()

    before = estimated()
    assert proxy.requests == []  # not even the preflight's /models
    _, steps = evaluate_methods(generate_world({"world": WORLD})[2], {}, pool, evaluation, routers=[])
    sent = steps[steps["seed"] == 0]  # a greedy member answers seed 1 from seed 0's calls
    assert before["calls"] == len(proxy.posts()) == len(sent) > 0
    assert before["prompt_tokens"] == sent["prompt_tokens"].sum()
    assert before["completion_tokens"] == 4 * len(sent) >= sent["completion_tokens"].sum()

    proxy.reset()
    after = estimated()  # every call is in the cache now
    assert (after["calls"], after["cached"], after["usd"]) == (0, before["calls"], 0.0)
    assert proxy.requests == []


def test_a_cap_stops_where_it_should_and_a_raised_cap_resumes_without_paying_twice(proxy, tiny_model_dir, tmp_path):
    """A cap that admits exactly three of four batches: real spend of the first two plus the third's
    bound. The run stops before the fourth, naming member, cap and spend, having sent twelve
    requests; rerun with a higher cap it sends the fourth batch's four and ends with the answers of
    a run without a cap."""
    start_run()
    free = pool_from_params({}, pool_block(proxy, tiny_model_dir, tmp_path / "uncapped.sqlite"))
    reference = [free.generate("tiny", batch, SAMPLING) for batch in BATCHES]
    real = [sum(free.cost("tiny", c) for c in answers) for answers in reference]
    bounds = [batch_bound(free.prices, "tiny", free.backends["tiny"], batch, SAMPLING).usd for batch in BATCHES]
    cap = real[0] + real[1] + bounds[2]
    assert sum(real[:3]) + bounds[3] > cap  # the fourth batch does not fit: the test's own premise
    proxy.reset()

    start_run()
    capped = pool_from_params({}, pool_block(proxy, tiny_model_dir, tmp_path / "calls.sqlite", budget_usd=cap))
    with pytest.raises(BudgetExceeded) as refused:
        for batch in BATCHES:
            capped.generate("tiny", batch, SAMPLING)
    assert len(proxy.posts()) == 12 and set(proxy.prompts_sent()) == set(sum(BATCHES[:3], []))
    message = str(refused.value)
    assert "pool member 'tiny'" in message and f"pool.budget_usd = ${cap:g}" in message
    assert f"the run has spent ${sum(real[:3]):.6g}" in message and "raise the cap and rerun" in message

    proxy.reset()
    start_run()
    resumed = pool_from_params({}, pool_block(proxy, tiny_model_dir, tmp_path / "calls.sqlite", budget_usd=1.0))
    answers = [resumed.generate("tiny", batch, SAMPLING) for batch in BATCHES]
    assert sorted(proxy.prompts_sent()) == sorted(BATCHES[3])
    assert [[(c.text, c.prompt_tokens, c.completion_tokens) for c in batch] for batch in answers] == \
        [[(c.text, c.prompt_tokens, c.completion_tokens) for c in batch] for batch in reference]
