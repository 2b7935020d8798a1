"""Run decompositions on the pool: subtask k of every question goes out in one batch per member."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from ..pool.base import SamplingParams
from ..pool.pool import ModelPool
from ..tasks import micro

# allocate(question indices, step index, filled subtasks, histories) -> member per question
Allocate = Callable[[list[int], int, list[str], list[list[tuple[str, Any]]]], list[str]]


@dataclass
class StepTrace:
    """One executed subtask: what was asked, of whom, what came back, and what it cost."""

    step: int
    subtask: str
    filled: str | None
    member: str | None
    prompt: str | None
    text: str | None
    value: Any
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    # the server sent no usage: the counts (and so the cost) are the backend's estimate
    estimated_tokens: bool = False
    # members asked again after an unsure answer (`Recheck`); tokens and cost above include them
    rechecks: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def fixed_member(member: str) -> Allocate:
    return lambda idx, step, filled, histories: [member] * len(idx)


@dataclass(frozen=True)
class Recheck:
    """After a member answers a step, its answer's confidence (the lowest probability among its
    tokens) below `tau` sends the step one rung up `ladder`, and again while the new answer is
    below `tau`, up to the dearest member; every call is paid, and the last answer is the step's."""

    ladder: tuple[str, ...]
    tau: float


def answer_confidence(token_logprobs: Sequence[float] | None) -> float:
    """The lowest token probability of an answer; 0 for none (a server that sent none is unsure)."""
    return min((math.exp(lp) for lp in token_logprobs), default=0.0) if token_logprobs else 0.0


def execute(
    pool: ModelPool,
    task: Any,
    questions: Sequence[str],
    plans: Sequence[Sequence[str] | None],
    allocate: Allocate,
    sampling: SamplingParams,
    recheck: Recheck | None = None,
) -> list[list[StepTrace]]:
    """Execute every plan in order; a plan of None (unparseable decomposition) yields no steps."""
    traces: list[list[StepTrace]] = [[] for _ in plans]
    longest = max((len(p) for p in plans if p), default=0)
    if recheck is not None:
        sampling = replace(sampling, logprobs=True)
    for k in range(longest):
        active = [i for i, p in enumerate(plans) if p and k < len(p)]
        _run_step(pool, task, questions, plans, traces, active, k, allocate, sampling, recheck)
    return traces


def _run_step(pool, task, questions, plans, traces, active, k, allocate, sampling, recheck) -> None:
    histories = [[(t.filled, t.value) for t in traces[i]] for i in active]
    # the first subtask refers to nothing: text like "#1" in it is the question's own, not a reference
    filled = [plans[i][k] if k == 0 else micro.substitute(plans[i][k], [t.value for t in traces[i]]) for i in active]
    # a step whose earlier answer is missing cannot run: it is not allocated (no router tokens spent)
    ready = [j for j, f in enumerate(filled) if f is not None]
    chosen = allocate([active[j] for j in ready], k, [filled[j] for j in ready], [histories[j] for j in ready]) if ready else []
    members = dict(zip(ready, chosen))
    by_member: dict[str, list[int]] = defaultdict(list)
    for j, i in enumerate(active):
        if filled[j] is None:
            traces[i].append(StepTrace(k, plans[i][k], None, None, None, None, None))
        else:
            by_member[members[j]].append(j)
    pending: dict[int, StepTrace] = {}
    unsure: dict[str, list[int]] = defaultdict(list)  # member -> rows to ask it next (Recheck)
    while by_member:
        for member, rows in by_member.items():
            prompts = [task.subtask_prompt(questions[active[j]], histories[j], filled[j]) for j in rows]
            for j, prompt, out in zip(rows, prompts, pool.generate(member, prompts, sampling)):
                trace = StepTrace(
                    step=k,
                    subtask=plans[active[j]][k],
                    filled=filled[j],
                    member=member,
                    prompt=prompt,
                    text=out.text,
                    value=task.parse_subtask(prompt, out.text),
                    prompt_tokens=out.prompt_tokens,
                    completion_tokens=out.completion_tokens,
                    cost_usd=pool.cost(member, out),
                    estimated_tokens=out.estimated_tokens,
                )
                if j in pending:  # asked again: the earlier answers are paid too
                    before = pending[j]
                    trace.prompt_tokens += before.prompt_tokens
                    trace.completion_tokens += before.completion_tokens
                    trace.cost_usd += before.cost_usd
                    trace.estimated_tokens |= before.estimated_tokens
                    trace.rechecks = before.rechecks + 1
                pending[j] = trace
                if recheck is not None and answer_confidence(out.token_logprobs) < recheck.tau:
                    rung = recheck.ladder.index(member) if member in recheck.ladder else len(recheck.ladder) - 1
                    if rung + 1 < len(recheck.ladder):
                        unsure[recheck.ladder[rung + 1]].append(j)
        by_member, unsure = unsure, defaultdict(list)
    for j in sorted(pending):
        traces[active[j]].append(pending[j])


def final_value(trace: list[StepTrace]) -> Any:
    return trace[-1].value if trace else None
