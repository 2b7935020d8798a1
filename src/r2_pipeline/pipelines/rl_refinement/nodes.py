"""Nodes of one `rl_refinement` round: GRPO of the decomposer (allocator frozen), then of the
allocator (decomposer frozen); each phase starts from the previous weights.

Micro: questions from the world's training split, steps verified by their exact values. Real
benchmarks (data_generation's endpoint teacher; its tables carry a `benchmark` column): questions
and subtasks from data_generation's chosen plans and allocation labels, final answers graded by the
benchmark, subtask answers judged by `rl_refinement.reviewer`.
"""

from __future__ import annotations

import json
import random

import pandas as pd

from ... import ranks
from ...labels.teacher import reviewer
from ...pool.base import SamplingParams, sampling_from
from ...pool.factory import ladder_order, pool_from_params, router_pool
from ...pool.local import trained_router
from ...pool.pool import ModelPool
from ...reasoning.execute import execute, fixed_member
from ...reasoning.router import RouterUsage, decompose
from ...reporting.mlflow_runs import log_curves
from ...rl.rewards import (
    AllocatorEnv,
    BenchmarkDecomposerEnv,
    DecomposerEnv,
    ReviewedAllocatorEnv,
    make_rewards,
)
from ...tasks import micro
from ...tasks.base import Example, get_task
from ...tasks.benchmark import STEP_SAMPLING
from ...training.grpo import grpo_train, prompts_per_generation


def _router(pool: dict, decomposer: str, allocator: str) -> ModelPool:
    return router_pool(trained_router(decomposer), trained_router(allocator), pool["prices"][pool["router_member"]])


ROUND_STRIDE = 1000  # round k draws with seed + salt + 1000 (k - 1)
# The members' samples in a phase's rollouts are seeded from SAMPLE_SEEDS + seed + salt + 1000 (k - 1)
# on (rl/rewards.py adds STRIDE per GRPO batch and j for the j-th repeat of a rollout in a batch).
# SAMPLE_SEEDS keeps them apart from the small seeds evaluation answers under (evaluation.seeds), so
# no training reward replays a test-time draw of the same step; the allocator phase's salt keeps its
# seeds apart from the decomposer phase's while no batch repeats one rollout 500 times. Every
# lambda slot draws the same seeds: the sweep compares lambdas on common samples.
SAMPLE_SEEDS = 1_000_000
SAMPLE_SALT = {"decomposer": 0, "allocator": 500}


def _seed(settings: dict, salt: int, round_index: int) -> int:
    """One draw per (phase seed, phase, round): each round samples its own questions, in its own order."""
    return settings["seed"] + salt + ROUND_STRIDE * (round_index - 1)


def _sample_seed(settings: dict, phase: str, round_index: int) -> int:
    """The base seed of the member samples in one phase's rollouts (the environment's `seed`)."""
    return SAMPLE_SEEDS + _seed(settings, SAMPLE_SALT[phase], round_index)


def at_lambda(rl_refinement: dict, lambda_index: int) -> dict:
    """The block as one lambda slot's phases read it: slot 0 trains the main router at
    `cost_lambda`, slot i (namespace sweep_<i>) at the i-th lambda of `lambda_sweep`."""
    if lambda_index == 0:
        return rl_refinement
    sweep = rl_refinement.get("lambda_sweep") or []
    if not 0 < lambda_index <= len(sweep):
        raise ValueError(f"sweep slot {lambda_index} has no lambda: rl_refinement.lambda_sweep is {sweep}")
    return {**rl_refinement, "cost_lambda": sweep[lambda_index - 1]}


def _questions(world_train: pd.DataFrame, settings: dict, salt: int, round_index: int) -> pd.DataFrame:
    n = min(settings["questions"], len(world_train))
    return world_train.sample(n=n, random_state=_seed(settings, salt, round_index)).reset_index(drop=True)


def refine_decomposer(
    decomposer: str, allocator: str, world_train: pd.DataFrame, pool_manifest: dict, pool: dict,
    rl_refinement: dict, scored_decompositions: pd.DataFrame | None = None,
    allocation_labels: pd.DataFrame | None = None, round_index: int = 1, lambda_index: int = 0,
) -> tuple[tuple, pd.DataFrame]:
    """GRPO on the decomposer: reward from executing each sampled plan with the frozen allocator,
    at the cost lambda of slot `lambda_index` (at_lambda)."""
    rl_refinement, settings = at_lambda(rl_refinement, lambda_index), rl_refinement["decomposer"]
    if _benchmarks(scored_decompositions):
        return _refine_benchmark_decomposer(decomposer, allocator, scored_decompositions, pool_manifest, pool,
                                            rl_refinement, round_index)
    task = get_task("micro")
    frame = _questions(world_train, settings, salt=0, round_index=round_index)
    prompts = [task.decomposer_prompt(q) for q in frame["question"]]
    ladder = ladder_order(pool)
    built = pool_from_params(pool_manifest, pool)
    seed = _sample_seed(settings, "decomposer", round_index)
    with ranks.main_process_first():  # the others then read the same calls from the cache
        scale = largest_cost(built, task, frame, ladder[-1], seed)
    env = DecomposerEnv(
        built, _router(pool, decomposer, allocator), task,
        {p: (q, int(a)) for p, q, a in zip(prompts, frame["question"], frame["answer"])},
        fallback=rl_refinement["fallback"], largest=ladder[-1],
        sampling=micro.member_sampling(), router_sampling=SamplingParams(max_new_tokens=4),
        min_success=rl_refinement.get("min_success"), ladder=ladder, rule=rl_refinement.get("rule", "cheapest_likely"),
        seed=seed, cost_scale=scale,
    )
    return _train(decomposer, prompts, settings, env, rl_refinement)


def largest_cost(pool: ModelPool, task, frame: pd.DataFrame, largest: str, seed: int) -> float:
    """The largest member's cost on a question's reference plan, averaged over `frame`'s questions:
    the scale of the decomposer phase's cost, as evaluation's objective scales by `single` on it."""
    plans = [json.loads(s) for s in frame["subtasks"]]
    traces = execute(pool, task, list(frame["question"]), plans, fixed_member(largest),
                     micro.member_sampling(seed))
    return sum(t.cost_usd for trace in traces for t in trace) / max(len(traces), 1)


def refine_allocator(
    decomposer: str, allocator: str, world_train: pd.DataFrame, pool_manifest: dict, pool: dict,
    rl_refinement: dict, scored_decompositions: pd.DataFrame | None = None,
    allocation_labels: pd.DataFrame | None = None, round_index: int = 1, lambda_index: int = 0,
) -> tuple[tuple, pd.DataFrame]:
    """GRPO on the allocator over the subtasks of the frozen decomposer's plans (exact values in), at
    the cost lambda of slot `lambda_index` (at_lambda)."""
    rl_refinement, settings = at_lambda(rl_refinement, lambda_index), rl_refinement["allocator"]
    if _benchmarks(scored_decompositions):
        return _refine_benchmark_allocator(allocator, allocation_labels, pool_manifest, pool, rl_refinement,
                                           round_index)
    task = get_task("micro")
    frame = _questions(world_train, settings, salt=1, round_index=round_index)
    if settings.get("subtasks", "decomposer") == "teacher":  # conf/test: its decomposer is untrained
        plans = [json.loads(s) for s in frame["subtasks"]]
    else:
        plans, _ = decompose(_router(pool, decomposer, allocator), task, list(frame["question"]),
                             SamplingParams(max_new_tokens=64), RouterUsage.empty(len(frame)))
    gold: dict[str, tuple[str, int, int]] = {}
    for plan in plans:
        for filled, value in (micro.filled_subtasks(plan) if plan else None) or []:
            gold.setdefault(task.allocator_prompt("", [], filled), (filled, value, len(plan)))
    prompts = sorted(gold)
    if len(prompts) < (needed := prompts_per_generation(settings["trainer"], ranks.world_size())):
        raise ValueError(
            f"the allocator phase found {len(prompts)} evaluable subtasks in the decomposer's plans for "
            f"{len(frame)} questions, fewer than one generation batch takes "
            f"({needed}); the decomposer must write valid plans first "
            "(train it longer)"
        )
    env = AllocatorEnv(pool_from_params(pool_manifest, pool), task, gold, largest=ladder_order(pool)[-1],
                       sampling=micro.member_sampling(),
                       seed=_sample_seed(settings, "allocator", round_index))
    return _allocator_grpo(allocator, prompts, settings, env, rl_refinement, round_index)


def _allocator_grpo(allocator: str, prompts: list[str], settings: dict, env, rl_refinement: dict,
                    round_index: int):
    random.Random(_seed(settings, 0, round_index)).shuffle(prompts)
    return _train(allocator, prompts, settings, env, rl_refinement)


def _train(model_path: str, prompts: list[str], settings: dict, env, rl_refinement: dict):
    """GRPO of one phase: the rewards named in parameters, all reading `env`."""
    if len(prompts) < (needed := prompts_per_generation(settings["trainer"], ranks.world_size())):
        raise ValueError(f"this GRPO phase has {len(prompts)} distinct prompts, and one generation batch takes "
                         f"{needed}: TRL would sample none and train nothing (raise the phase's questions, or "
                         "lower per_device_train_batch_size)")
    rewards = make_rewards(rl_refinement["rewards"], env, rl_refinement["cost_lambda"])
    model, tokenizer, history = grpo_train(model_path, prompts, rewards, settings["trainer"], settings.get("lora"))
    return (model, tokenizer), pd.DataFrame(history)


# ---------------------------------------------------------------- real benchmarks (paper profile)

MEMBER_NAME_SAMPLING = {"max_new_tokens": 8}  # the frozen allocator's member name


def _benchmarks(scored: pd.DataFrame | None) -> bool:
    return scored is not None and "benchmark" in scored.columns


def _sample_ids(frame: pd.DataFrame, settings: dict, salt: int, round_index: int) -> set:
    ids = sorted(frame["id"].unique())
    random.Random(_seed(settings, salt, round_index)).shuffle(ids)
    return set(ids[: settings["questions"]])


def _refine_benchmark_decomposer(decomposer, allocator, scored, pool_manifest, pool, rl_refinement, round_index):
    settings = rl_refinement["decomposer"]
    chosen = scored[scored["chosen"]]
    chosen = chosen[chosen["id"].isin(_sample_ids(chosen, settings, salt=0, round_index=round_index))]
    gold, prompts = {}, []
    for row in chosen.itertuples():
        task = get_task(row.benchmark)
        prompt = task.decomposer_prompt(row.question)
        gold[prompt] = (row.question, Example.from_row(row), task)
        prompts.append(prompt)
    if not prompts:
        raise ValueError("data_generation chose no plan (scored_decompositions has no `chosen` row): nothing to "
                         "sample decompositions for")
    # in the round's own order: with no more chosen questions than `questions`, every round samples
    # all of them, and frame order would repeat round 1
    random.Random(_seed(settings, 0, round_index)).shuffle(prompts)
    ladder = ladder_order(pool)
    env = BenchmarkDecomposerEnv(
        pool_from_params(pool_manifest, pool), _router(pool, decomposer, allocator), None, gold,
        fallback=rl_refinement["fallback"], largest=ladder[-1],
        sampling=sampling_from(rl_refinement.get("sampling"), **STEP_SAMPLING),
        router_sampling=sampling_from(rl_refinement.get("allocator_sampling"), **MEMBER_NAME_SAMPLING),
        min_success=rl_refinement.get("min_success"), ladder=ladder, rule=rl_refinement.get("rule", "cheapest_likely"),
        seed=_sample_seed(settings, "decomposer", round_index),
    )
    return _train(decomposer, prompts, settings, env, rl_refinement)


def _refine_benchmark_allocator(allocator, labels, pool_manifest, pool, rl_refinement, round_index):
    """Over the subtasks of data_generation's chosen plans, in the evaluation member's context."""
    settings = rl_refinement["allocator"]
    if not rl_refinement.get("reviewer"):
        raise ValueError("benchmark subtasks have no exact answer: set rl_refinement.reviewer, the member that "
                         "judges a sampled member's answer")
    labels = labels[labels["id"].isin(_sample_ids(labels, settings, salt=1, round_index=round_index))]
    steps = labels.groupby("id")["step"].transform("count")
    gold = {}
    for row, n in zip(labels.itertuples(), steps):
        task, history = get_task(row.benchmark), [tuple(h) for h in json.loads(row.history)]
        gold.setdefault(task.allocator_prompt(row.question, history, row.filled),
                        (task, row.question, history, row.filled, int(n)))
    built = pool_from_params(pool_manifest, pool)
    env = ReviewedAllocatorEnv(built, gold, largest=ladder_order(pool)[-1],
                               sampling=sampling_from(rl_refinement.get("sampling"), **STEP_SAMPLING),
                               verify=reviewer(built, rl_refinement["reviewer"]),
                               seed=_sample_seed(settings, "allocator", round_index))
    return _allocator_grpo(allocator, sorted(gold), settings, env, rl_refinement, round_index)


def log_phase_curves(curves: pd.DataFrame, rl_refinement: dict, run_name: str, tags: dict,
                     lambda_index: int = 0) -> dict:
    """GRPO curves (reward, its parts, KL, completion length) as a child run named `run_name`,
    tagged with `tags` (round, phase, sweep) and the slot's cost lambda."""
    lam = at_lambda(rl_refinement, lambda_index)["cost_lambda"]
    run_id = log_curves(run_name, curves.to_dict("records"), {**tags, "cost_lambda": str(lam)})
    rewards = curves["reward"].dropna() if "reward" in curves else pd.Series(dtype=float)
    return {"run_id": run_id, "cost_lambda": lam, "first_reward": float(rewards.iloc[0]) if len(rewards) else None,
            "last_reward": float(rewards.iloc[-1]) if len(rewards) else None}
