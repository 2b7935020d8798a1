"""A method's result as tables: one row per question, one per pool call, each with the evaluation
seed the method ran under."""

from __future__ import annotations

from typing import Any

from ..reasoning.execute import StepTrace, final_value, own_call
from ..tasks.base import Example
from .base import Method, MethodResult, run_method


def evaluate(benchmark: str, method: Method, pool, task, examples: list[Example], sampling, context
             ) -> tuple[list[dict], list[dict]]:
    """Run one method on a benchmark's examples: its per-question rows and its per-call rows, marked
    with `sampling.seed`."""
    result = run_method(method, pool, task, examples, sampling, context)
    return result_rows(benchmark, result, task, examples, sampling.seed), step_rows(result, examples, sampling.seed)


def result_rows(benchmark: str, result: MethodResult, task: Any, examples: list[Example], seed: int = 0
                ) -> list[dict]:
    """One row per question; `seed`: the evaluation seed of the run (its sampling's, 0 by default)."""
    rows = []
    for i, (example, trace) in enumerate(zip(examples, result.traces)):
        prediction = final_value(trace)
        rows.append(
            {
                "benchmark": benchmark,
                "method": result.method,
                "id": example.id,
                "seed": seed,
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
                # steps whose token counts a server did not report (estimated by the backend)
                "estimated_token_steps": sum(t.estimated_tokens for t in trace),
                # steps asked again of a dearer member after an unsure answer (`+recheck`)
                "rechecked_steps": sum(t.rechecks > 0 for t in trace),
                "method_seconds": result.seconds,
                "invalid_allocations": result.invalid_allocations,
            }
        )
    return rows


def step_rows(result: MethodResult, examples: list[Example], seed: int = 0) -> list[dict]:
    """One row per pool call: a step asked again (`+recheck`) has a row per member asked, each with
    that call's own tokens and cost, and `final` marks the answer that counts; so the table reprices
    call by call, and its cost sums to the method's. `seed` as in result_rows."""
    return [
        {"method": result.method, "id": e.id, "seed": seed, **row}
        for e, trace in zip(examples, result.traces)
        for t in trace
        for row in _call_rows(t)
    ]


def _call_rows(trace: StepTrace) -> list[dict]:
    step = {k: _plain(v) for k, v in trace.to_dict().items() if k != "earlier"}
    if not trace.earlier:
        return [{**step, "final": True}]
    calls = [*trace.earlier, own_call(trace)]
    return [{**step, **{k: _plain(v) for k, v in call.items()}, "rechecks": n, "final": n == len(calls) - 1}
            for n, call in enumerate(calls)]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float)) else str(value)
