"""Fresh member samples per rollout: members whose answers depend on (prompt, seed) alone, behind
the call cache, so a memo or a cache that replayed one draw would show."""

import random

import pytest

from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.rl.rewards import (
    STRIDE,
    AllocatorEnv,
    BenchmarkDecomposerEnv,
    DecomposerEnv,
    ReviewedAllocatorEnv,
    make_rewards,
    occurrences,
)
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK

SUBTASK, VALUE = "12 * 7", 84
PROMPT = TASK.allocator_prompt("", [], SUBTASK)
QUESTION = "Ann has 12 apples. Then the apples are multiplied by 7. How many apples are there now?"


class Coin:
    """A micro member right with probability `reliability`, drawn from (prompt, seed) alone."""

    temperature = 1.0  # it samples: every seed is its own draw

    def __init__(self, name: str, reliability: float):
        self.reliability, self.fingerprint = reliability, f"coin-{name}"
        self.calls: list[tuple[int, list[str]]] = []

    def generate(self, prompts, sampling):
        self.calls.append((sampling.seed, list(prompts)))
        return [Completion(self.answer(p, sampling.seed), len(p), 4) for p in prompts]

    def answer(self, prompt: str, seed: int) -> str:
        step = micro.parse_expression(f"{int(prompt[:3])} {prompt[3]} {int(prompt[4:7])}")
        right = random.Random(f"{prompt}|{seed}").random() < self.reliability
        return micro.member_answer(step) if right else "000"


class Scripted:
    """A router model that answers every prompt with `text` (greedy: the seed does not matter)."""

    fingerprint = "scripted"

    def __init__(self, text: str):
        self.text, self.seeds = text, set()

    def generate(self, prompts, sampling):
        self.seeds.add(sampling.seed)
        return [Completion(self.text, len(p), 2) for p in prompts]


def price(per_m: float) -> dict:
    return {"input_per_m": per_m, "output_per_m": per_m, "date": "d", "source": "s"}


def router(decomposer: str, allocator: str) -> ModelPool:
    return ModelPool({"decomposer": Scripted(decomposer), "allocator": Scripted(allocator)},
                     PriceTable.from_config({"decomposer": price(1.0), "allocator": price(1.0)}))


@pytest.fixture
def coins(tmp_path):
    """cheap (60% right), sure (99%, a fifth dearer), big (always right, the dearest), cached."""
    members = {"cheap": Coin("cheap", 0.6), "sure": Coin("sure", 0.99), "big": Coin("big", 1.0)}
    prices = PriceTable.from_config({"cheap": price(1.0), "sure": price(1.2), "big": price(10.0)})
    return ModelPool(members, prices, CallCache(tmp_path / "calls.sqlite"))


def allocator_env(pool, seed=0):
    return AllocatorEnv(pool, TASK, {PROMPT: (SUBTASK, VALUE)}, largest="big",
                        sampling=SamplingParams(max_new_tokens=4), seed=seed)


def seeds(pool, member):
    return [seed for seed, _ in pool.backends[member].calls]


def test_occurrences_count_earlier_repeats_of_a_rollout():
    keys = [("p", "a"), ("p", "b"), ("p", "a"), ("q", "a"), ("p", "a")]
    assert occurrences(keys) == [0, 0, 1, 0, 2]


def test_repeats_of_a_rollout_in_a_batch_draw_their_own_seeds(coins):
    env = allocator_env(coins, seed=7)
    env.outcomes([PROMPT] * 4, ["cheap", "cheap", "sure", "cheap"])
    assert seeds(coins, "cheap") == [7, 8, 9]  # one call per seed, seeds 7 + j
    assert seeds(coins, "sure") == [7]
    env.outcomes([PROMPT] * 2, ["cheap", "cheap"])  # the next batch
    assert seeds(coins, "cheap")[3:] == [7 + STRIDE, 8 + STRIDE]


def test_completions_that_name_one_member_are_repeats_of_one_rollout(coins):
    env = allocator_env(coins, seed=7)
    env.outcomes([PROMPT] * 3, ["cheap", " cheap", "cheap "])
    assert seeds(coins, "cheap") == [7, 8, 9]  # three draws, not one shared by the spellings


def test_the_reward_functions_of_one_batch_share_its_outcomes(coins):
    env = allocator_env(coins)
    funcs = make_rewards(["correctness", "cost", "format"], env, lam=0.5)
    prompts, completions = [PROMPT] * 4, ["cheap", "sure", "cheap", "nobody"]
    for func in funcs:
        func(prompts, completions)
    assert env.batches == 1 and len(coins.backends["cheap"].calls) == 2
    # TRL's next batch, even with the same lists: a reader asks again, so the batch samples afresh
    funcs[0](prompts, completions)
    assert env.batches == 2 and seeds(coins, "cheap")[2:] == [STRIDE, STRIDE + 1]


def test_a_member_is_scored_by_its_expected_reward_over_batches(coins):
    """What GRPO learns from: over many batches, a 60%-reliable cheap member averages about 0.6
    right and a 99% one about 0.99, so at lambda 0.5 the sure member, a fifth dearer, scores higher."""
    env = allocator_env(coins)
    right, cost = make_rewards(["correctness", "cost"], env, lam=0.5)
    totals = {"cheap": [], "sure": []}
    for _ in range(100):  # batches of 2 rollouts of each member
        completions = ["cheap", "sure", "cheap", "sure"]
        rewards = [r + c for r, c in zip(right([PROMPT] * 4, completions), cost([PROMPT] * 4, completions))]
        for member, reward in zip(completions, rewards):
            totals[member].append(reward)
    mean = {m: sum(v) / len(v) for m, v in totals.items()}
    assert sorted({round(r, 6) for r in totals["cheap"]}) == [-0.05, 0.95]  # both outcomes drawn
    assert mean["cheap"] == pytest.approx(0.6 - 0.05, abs=0.08)
    assert mean["sure"] == pytest.approx(0.99 - 0.06, abs=0.03)
    assert mean["sure"] > mean["cheap"] + 0.2


def test_reruns_draw_the_same_samples_and_another_seed_others(coins, tmp_path):
    def run(seed):
        env = allocator_env(coins, seed)
        (right,) = make_rewards(["correctness"], env, lam=0.5)
        return [right([PROMPT] * 8, ["cheap"] * 8) for _ in range(5)]

    first = run(0)
    assert run(0) == first
    assert run(1) != first
    assert len({tuple(batch) for batch in first}) > 1  # the batches differ


def test_decomposer_rollouts_sample_members_per_repeat(coins):
    """Four identical plans in one batch run with four seeds, one execution per seed; the frozen
    allocator (greedy, `router_sampling`) is not reseeded."""
    prompt, plan = TASK.decomposer_prompt(QUESTION), "1. $1 * $2\n"
    frozen = router(plan, "cheap")
    env = DecomposerEnv(coins, frozen, TASK, {prompt: (QUESTION, VALUE)},
                        fallback="big", largest="big", sampling=SamplingParams(max_new_tokens=4),
                        router_sampling=SamplingParams(), seed=100)
    right, fmt = make_rewards(["correctness", "format"], env, lam=0.5)
    outcomes = right([prompt] * 4, [plan] * 4)
    assert fmt([prompt] * 4, [plan] * 4) == [0.0] * 4 and env.batches == 1
    assert seeds(coins, "cheap") == [100, 101, 102, 103] and frozen.backends["allocator"].seeds == {0}
    member = coins.backends["cheap"]
    expected = [float(TASK.parse_subtask(p, member.answer(p, s)) == VALUE) for s, (p,) in member.calls]
    assert outcomes == expected


def test_benchmark_decomposer_and_reviewed_allocator_draw_per_repeat(coins):
    """The real-benchmark environments seed their member calls the same way."""
    from r2_pipeline.tasks.base import Example
    prompt, plan = TASK.decomposer_prompt(QUESTION), "1. $1 * $2\n"
    gold = {prompt: (QUESTION, Example("q", QUESTION, VALUE), TASK)}
    env = BenchmarkDecomposerEnv(coins, router(plan, "sure"), None, gold,
                                 fallback="big", largest="big", sampling=SamplingParams(max_new_tokens=4),
                                 router_sampling=SamplingParams(), seed=5)
    env.outcomes([prompt] * 3, [plan] * 3)
    env.outcomes([prompt], [plan])
    assert seeds(coins, "sure") == [5, 6, 7, 5 + STRIDE]

    class Judged:  # the micro task with a benchmark's question context, for the reviewer
        name = "judged"

        def __getattr__(self, attr):
            return getattr(TASK, attr)

        def context(self, question):
            return question

    verdicts = []

    def verify(items):
        verdicts.extend(items)
        return [(value == VALUE, None) for *_, value in items]

    reviewed = ReviewedAllocatorEnv(coins, {PROMPT: (Judged(), "", [], SUBTASK, 1)}, largest="big",
                                    sampling=SamplingParams(max_new_tokens=4), verify=verify, seed=9)
    reviewed.outcomes([PROMPT] * 3, ["cheap", "cheap", "nobody"])
    assert seeds(coins, "cheap") == [9, 10] and len(verdicts) == 2


def test_with_a_cost_scale_a_decomposer_rollout_pays_the_router_and_is_measured_against_it():
    from r2_pipeline.pool.pool import ModelPool
    from r2_pipeline.pool.prices import PriceTable
    from r2_pipeline.rl.rewards import DecomposerEnv

    prices = PriceTable.from_config({m: {"input_per_m": 1.0, "output_per_m": 1.0, "date": "d", "source": "s"}
                                     for m in ("t1", "t5")})
    pool = ModelPool({"t1": Coin("t1", 1.0), "t5": Coin("t5", 1.0)}, prices)
    router_prices = PriceTable.from_config({m: {"input_per_m": 1.0, "output_per_m": 1.0, "date": "d", "source": "s"}
                                            for m in ("decomposer", "allocator")})
    router = ModelPool({"decomposer": Scripted("unused"), "allocator": Scripted("t1")}, router_prices)
    prompt = TASK.decomposer_prompt(QUESTION)
    gold = {prompt: (QUESTION, 84)}
    kwargs = dict(fallback="t5", largest="t5", sampling=SamplingParams(max_new_tokens=4),
                  router_sampling=SamplingParams(max_new_tokens=4))
    plain = DecomposerEnv(pool, router, TASK, gold, **kwargs).outcomes([prompt], ["1. $1 * $2"])[0]
    scaled = DecomposerEnv(pool, router, TASK, gold, cost_scale=1e-3, **kwargs).outcomes([prompt], ["1. $1 * $2"])[0]
    assert plain.correct and scaled.correct
    assert plain.cost_largest == plain.cost  # same prices: t1 costs what t5 would on the same call
    assert scaled.cost_largest == 1e-3 and scaled.cost > plain.cost  # the allocator's call is paid too
