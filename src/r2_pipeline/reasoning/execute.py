"""Run decompositions on the pool: subtask k of every question goes out in one batch per member, the
endpoint members' batches at once."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ..pool.base import Completion, SamplingParams, runs_concurrently
from ..pool.loop import interrupts_cancel_all
from ..pool.pool import ModelPool

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
    # members asked again after an unsure answer (`Recheck`); tokens and cost above include them,
    # and `earlier` holds each earlier call (member, prompt, text, value, tokens, cost)
    rechecks: int = 0
    earlier: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def fixed_member(member: str) -> Allocate:
    return lambda idx, step, filled, histories: [member] * len(idx)


@dataclass(frozen=True)
class Recheck:
    """After a member answers a step, its answer's confidence (`answer_confidence` at `alpha`: by
    default the lowest probability among its tokens) below `tau` sends the step one rung up
    `ladder`, and again while the new answer is below `tau`, up to the dearest member; every call is
    paid, and the last answer is the step's. Members below the dearest are asked for
    log-probabilities; the dearest, whose answer stands whatever its confidence, is asked as any
    method asks it. With `agree`, an unsure answer whose value is the one the rung below gave
    stands too: two members that agree are taken at their word (a cascade on answer consistency)."""

    ladder: tuple[str, ...]
    tau: float
    alpha: float = 0.0
    agree: bool = False


def answer_confidence(token_logprobs: Sequence[float] | None, alpha: float = 0.0) -> float:
    """The alpha-quantile of an answer's token probabilities (alpha 0: the lowest); 0 for none (a
    server that sent none is unsure) and for a NaN among them (no sign of a sure answer). The grouped
    search buckets a step by it; `Recheck` reads it."""
    if not token_logprobs:
        return 0.0
    confidence = float(np.quantile([math.exp(lp) for lp in token_logprobs], alpha))
    return confidence if math.isfinite(confidence) else 0.0


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
        outside = sorted(set(pool.members) - set(recheck.ladder))
        if outside or not recheck.ladder:
            raise ValueError(f"recheck ladder {list(recheck.ladder)} must list every pool member; missing: {outside}")
    for k in range(longest):
        active = [i for i, p in enumerate(plans) if p and k < len(p)]
        _run_step(pool, task, questions, plans, traces, active, k, allocate, sampling, recheck)
    return traces


def _run_step(pool, task, questions, plans, traces, active, k, allocate, sampling, recheck) -> None:
    histories = [[(t.filled, t.value) for t in traces[i]] for i in active]
    # the first subtask refers to nothing: text like "#1" in it is the question's own, not a reference
    filled = [plans[i][k] if k == 0 else task.substitute(plans[i][k], [t.value for t in traces[i]]) for i in active]
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

    def prompts_of(rows: list[int]) -> list[str]:
        return [task.subtask_prompt(questions[active[j]], histories[j], filled[j]) for j in rows]

    def record(member: str, rows: list[int], prompts: list[str], outs: list[Completion]) -> None:
        for j, prompt, out in zip(rows, prompts, outs):
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
                trace.earlier = [*before.earlier, own_call(before)]
                trace.rechecks = before.rechecks + 1
                trace.prompt_tokens += before.prompt_tokens
                trace.completion_tokens += before.completion_tokens
                trace.cost_usd += before.cost_usd
                trace.estimated_tokens |= before.estimated_tokens
            pending[j] = trace

    def ask(member: str, rows: list[int], member_sampling: SamplingParams) -> list[Completion]:
        prompts = prompts_of(rows)
        outs = pool.generate(member, prompts, member_sampling)
        record(member, rows, prompts, outs)
        return outs

    if recheck is None:
        batches = [(member, rows, prompts_of(rows)) for member, rows in by_member.items()]
        answers = generate_batches(pool, [(member, prompts) for member, _, prompts in batches], sampling)
        for (member, rows, prompts), outs in zip(batches, answers):
            record(member, rows, prompts, outs)
    else:
        def agrees(j: int) -> bool:
            trace = pending[j]
            return bool(trace.earlier) and trace.value is not None and trace.earlier[-1]["value"] == trace.value

        _climb(recheck, by_member, ask, agrees, sampling)
    for j in sorted(pending):
        traces[active[j]].append(pending[j])


def generate_batches(pool: ModelPool, batches: Sequence[tuple[str, list[str]]], sampling: SamplingParams
                     ) -> list[list[Completion]]:
    """Each (member, prompts) batch answered, in the order given. Members that run concurrently
    (endpoints: `pool.base.runs_concurrently`) answer at once on threads of their own, each under its
    own limits, while the others (models in this process) answer one after another in the calling
    thread: a step takes about its slowest endpoint's time, not the sum of all. Whatever finishes
    first, the answers come back in the batches' order, and an error is the first failed batch's."""
    at_once = [i for i, (member, _) in enumerate(batches) if runs_concurrently(pool.backends.get(member))]
    if len(batches) < 2 or not at_once:
        return [pool.generate(member, prompts, sampling) for member, prompts in batches]
    # leaving the block waits for every batch sent: the answers of a step that fails still reach the
    # cache; an interrupt cancels them first
    with (ThreadPoolExecutor(max_workers=len(at_once), thread_name_prefix="r2-member") as executor,
          interrupts_cancel_all()):
        sent = {i: executor.submit(pool.generate, *batches[i], sampling) for i in at_once}
        here = {i: pool.generate(member, prompts, sampling) for i, (member, prompts) in enumerate(batches)
                if i not in sent}
        return [sent[i].result() if i in sent else here[i] for i in range(len(batches))]


def _climb(recheck: Recheck, by_member: dict[str, list[int]], ask, agrees: Callable[[int], bool],
           sampling: SamplingParams) -> None:
    """Ask each rung its rows, cheapest rung first, so a step that climbs joins the next rung's one
    batch; an answer below tau sends its step one rung up, unless (`recheck.agree`) it `agrees` with
    the answer the step had from the rung below. The rungs answer one after another, endpoints too:
    each rung's one batch waits for the steps that climb to it."""
    sure_sampling = replace(sampling, logprobs=True)
    queue = defaultdict(list, by_member)
    for rung, member in enumerate(recheck.ladder):
        rows = sorted(queue.pop(member, []))
        if not rows:
            continue
        if rung == len(recheck.ladder) - 1:  # the dearest member's answer stands: asked as ever
            ask(member, rows, sampling)
            continue
        for j, out in zip(rows, ask(member, rows, sure_sampling)):
            if out.lacks(sure_sampling):
                raise ValueError(
                    f"recheck: pool member {member!r} sent no token log-probabilities, so every answer would look "
                    "unsure and climb to the dearest member. Serve it with log-probabilities, or evaluate without "
                    "+recheck")
            if answer_confidence(out.token_logprobs, recheck.alpha) < recheck.tau and not (recheck.agree and agrees(j)):
                queue[recheck.ladder[rung + 1]].append(j)


def own_call(trace: StepTrace) -> dict:
    """The last call of a step's trace alone: its cumulative counts less the earlier calls'."""
    spent = {key: sum(call[key] for call in trace.earlier)
             for key in ("prompt_tokens", "completion_tokens", "cost_usd")}
    return {"member": trace.member, "prompt": trace.prompt, "text": trace.text, "value": trace.value,
            "prompt_tokens": trace.prompt_tokens - spent["prompt_tokens"],
            "completion_tokens": trace.completion_tokens - spent["completion_tokens"],
            "cost_usd": trace.cost_usd - spent["cost_usd"]}


def final_value(trace: list[StepTrace]) -> Any:
    return trace[-1].value if trace else None
