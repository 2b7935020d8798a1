"""Evaluation methods by name: each turns test questions into plans and an allocation rule."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..pool.base import SamplingParams
from ..pool.pool import ModelPool
from ..tasks.base import Example
from .execute import StepTrace, execute, final_value, fixed_member


@dataclass
class MethodResult:
    """Per-question traces of one method plus the router's own tokens and cost."""

    method: str
    traces: list[list[StepTrace]]
    seconds: float
    router_prompt_tokens: list[int]
    router_completion_tokens: list[int]
    router_cost_usd: list[float]


def expand_methods(names: Sequence[str], members: Sequence[str]) -> list[str]:
    """`single` means `single:<m>` for every member (likewise `tier`)."""
    out = []
    for name in names:
        if name in {"single", "tier"}:
            out += [f"{name}:{m}" for m in members]
        else:
            out.append(name)
    return out


def run_single(
    method: str, pool: ModelPool, task: Any, examples: list[Example], sampling: SamplingParams
) -> MethodResult:
    """`single:<member>`: the member does every step of the teacher's decomposition."""
    member = method.split(":", 1)[1]
    if member not in pool.members:
        raise ValueError(f"method {method!r} names no pool member; members: {pool.members}")
    start = time.time()
    plans = [task.reference_subtasks(e) for e in examples]
    traces = execute(pool, task, [e.question for e in examples], plans, fixed_member(member), sampling)
    zeros = [0] * len(examples)
    return MethodResult(method, traces, time.time() - start, zeros, zeros, [0.0] * len(examples))


RUNNERS = {"single": run_single}


def run_method(method: str, pool: ModelPool, task: Any, examples: list[Example], sampling, context=None):
    kind = method.split(":", 1)[0]
    if kind not in RUNNERS:
        raise ValueError(f"unknown method {method!r}; known kinds: {sorted(RUNNERS)}")
    runner = RUNNERS[kind]
    return runner(method, pool, task, examples, sampling) if context is None else runner(
        method, pool, task, examples, sampling, context
    )


def result_rows(benchmark: str, result: MethodResult, task: Any, examples: list[Example]) -> list[dict]:
    rows = []
    for i, (example, trace) in enumerate(zip(examples, result.traces)):
        prediction = final_value(trace)
        rows.append(
            {
                "benchmark": benchmark,
                "method": result.method,
                "id": example.id,
                "answer": str(example.answer),
                "prediction": None if prediction is None else str(prediction),
                "correct": task.grade(prediction, example),
                "n_steps": len(trace),
                "members": ",".join(str(t.member) for t in trace),
                "prompt_tokens": sum(t.prompt_tokens for t in trace) + result.router_prompt_tokens[i],
                "completion_tokens": sum(t.completion_tokens for t in trace)
                + result.router_completion_tokens[i],
                "pool_cost_usd": sum(t.cost_usd for t in trace),
                "router_prompt_tokens": result.router_prompt_tokens[i],
                "router_completion_tokens": result.router_completion_tokens[i],
                "router_cost_usd": result.router_cost_usd[i],
                "cost_usd": sum(t.cost_usd for t in trace) + result.router_cost_usd[i],
                "method_seconds": result.seconds,
            }
        )
    return rows


def step_rows(result: MethodResult, examples: list[Example]) -> list[dict]:
    return [
        {"method": result.method, "id": e.id, **{k: _plain(v) for k, v in t.to_dict().items()}}
        for e, trace in zip(examples, result.traces)
        for t in trace
    ]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float)) else str(value)
