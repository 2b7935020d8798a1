"""Nodes of one `rl_refinement` round: GRPO of the decomposer (allocator frozen), then of the
allocator (decomposer frozen); each phase starts from the previous weights."""

from __future__ import annotations

import json
import random

import pandas as pd

from ...pool.base import SamplingParams
from ...pool.factory import ladder_order, pool_from_params, router_pool
from ...pool.pool import ModelPool, make_backend
from ...reasoning.rewards import AllocatorEnv, DecomposerEnv, make_rewards
from ...reasoning.router import RouterUsage, decompose
from ...tasks import micro
from ...tasks.base import get_task
from ...tracking import log_curves
from ...training.grpo import grpo_train


def _router(pool: dict, decomposer: str, allocator: str) -> ModelPool:
    return router_pool(make_backend("transformers", path=decomposer), make_backend("transformers", path=allocator),
                       pool["prices"][pool["router_member"]])


def _questions(world_train: pd.DataFrame, settings: dict, salt: int) -> pd.DataFrame:
    n = min(settings["questions"], len(world_train))
    return world_train.sample(n=n, random_state=settings["seed"] + salt).reset_index(drop=True)


def refine_decomposer(
    decomposer: str, allocator: str, world_train: pd.DataFrame, pool_manifest: dict, pool: dict,
    rl_refinement: dict,
) -> tuple[tuple, pd.DataFrame]:
    """GRPO on the decomposer: reward from executing each sampled plan with the frozen allocator."""
    settings = rl_refinement["decomposer"]
    task = get_task("micro")
    frame = _questions(world_train, settings, salt=0)
    prompts = [task.decomposer_prompt(q) for q in frame["question"]]
    ladder = ladder_order(pool)
    env = DecomposerEnv(
        pool_from_params(pool_manifest, pool),
        _router(pool, decomposer, allocator), task,
        {p: (q, int(a)) for p, q, a in zip(prompts, frame["question"], frame["answer"])},
        fallback=rl_refinement["fallback"], largest=ladder[-1],
        sampling=SamplingParams(max_new_tokens=micro.WIDTH + 1), router_sampling=SamplingParams(max_new_tokens=4),
        min_success=rl_refinement.get("min_success"), ladder=ladder,
    )
    rewards = make_rewards(rl_refinement["rewards"], env, rl_refinement["cost_lambda"])
    model, tokenizer, history = grpo_train(decomposer, prompts, rewards, settings["trainer"], settings.get("lora"))
    return (model, tokenizer), pd.DataFrame(history)


def refine_allocator(
    decomposer: str, allocator: str, world_train: pd.DataFrame, pool_manifest: dict, pool: dict,
    rl_refinement: dict,
) -> tuple[tuple, pd.DataFrame]:
    """GRPO on the allocator over the subtasks of the frozen decomposer's plans (exact values in)."""
    settings = rl_refinement["allocator"]
    task = get_task("micro")
    frame = _questions(world_train, settings, salt=1)
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
    if len(prompts) < settings["trainer"].get("num_generations", 8):
        raise ValueError(
            f"the allocator phase found {len(prompts)} evaluable subtasks in the decomposer's plans for "
            f"{len(frame)} questions; the decomposer must write valid plans first (train it longer)"
        )
    random.Random(settings["seed"]).shuffle(prompts)
    env = AllocatorEnv(pool_from_params(pool_manifest, pool),
                       task, gold, largest=ladder_order(pool)[-1], sampling=SamplingParams(max_new_tokens=micro.WIDTH + 1))
    rewards = make_rewards(rl_refinement["rewards"], env, rl_refinement["cost_lambda"])
    model, tokenizer, history = grpo_train(allocator, prompts, rewards, settings["trainer"], settings.get("lora"))
    return (model, tokenizer), pd.DataFrame(history)


def log_phase_curves(curves: pd.DataFrame, round_name: str, phase: str) -> dict:
    """GRPO curves (reward, its parts, KL, completion length) as a child run tagged round and phase."""
    run_id = log_curves(f"{round_name}.{phase}", curves.to_dict("records"), {"round": round_name, "phase": phase})
    rewards = curves["reward"].dropna() if "reward" in curves else pd.Series(dtype=float)
    return {"run_id": run_id, "first_reward": float(rewards.iloc[0]) if len(rewards) else None,
            "last_reward": float(rewards.iloc[-1]) if len(rewards) else None}
