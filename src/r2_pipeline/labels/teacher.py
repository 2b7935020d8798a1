"""The paper profile's teacher and reviewer, plain Python over the pool.

- The teacher, a strong pool member, writes candidate decompositions of a benchmark question when
  shown a few worked ones (the paper prompts its teacher with annotated examples). A subtask may use
  the answer of subtask k, written `#k`; the reasoner substitutes it before the subtask runs.
- The reviewer, a strong pool member, judges whether a member's answer to one subtask is correct:
  real subtasks have no exact value to compare with (the micro world's do).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from ..pool.base import SamplingParams, sampling_from
from ..pool.pool import ModelPool
from ..tasks.base import Example
from ..tasks.benchmark import parse_plan
from ..tasks.plan_text import format_decomposition

INSTRUCTION = (
    "Break the problem into a short numbered list of subtasks, solved in order. A subtask may use "
    "the answer of an earlier subtask k, written #k. The last subtask's answer answers the problem. "
    "Reply with the numbered list only."
)

REVIEW = """Problem:
{question}

Subtask: {subtask}
Proposed answer to the subtask: {answer}

Is the proposed answer to the subtask correct? Reply with one word: yes or no."""


def teacher_prompt(question: str, shots: Sequence[tuple[str, Sequence[str]]]) -> str:
    parts = [INSTRUCTION]
    parts += [f"Problem:\n{q}\nSubtasks:\n{format_decomposition(s)}" for q, s in shots]
    parts.append(f"Problem:\n{question}\nSubtasks:\n")
    return "\n\n".join(parts)


def propose(
    pool: ModelPool,
    member: str,
    examples: Sequence[Example],
    shots: Sequence[tuple[str, Sequence[str]]],
    variants: int,
    sampling: SamplingParams,
) -> list[dict[str, Any]]:
    """`variants` samples per question (seed + v, so each is its own cache entry), one batch each;
    returns one row per distinct parseable candidate: example index, candidate number, subtasks, text.
    """
    prompts = [teacher_prompt(e.question, shots) for e in examples]
    rows, seen = [], set()
    for v in range(variants):
        for i, out in enumerate(pool.generate(member, prompts, replace(sampling, seed=sampling.seed + v))):
            plan = parse_plan(out.text)
            if plan is None or (i, tuple(plan)) in seen:
                continue
            seen.add((i, tuple(plan)))
            rows.append({"index": i, "candidate": v, "subtasks": plan, "text": out.text})
    return rows


class Verdict(NamedTuple):
    """A reviewer's judgement: `ok`, and its raw reply (None when nothing was asked)."""

    ok: bool
    reply: str | None


def parse_verdict(text: str) -> bool:
    """True only for a reply whose first word is yes."""
    words = re.findall(r"[a-z]+", text.lower())
    return bool(words) and words[0] == "yes"


def review(
    pool: ModelPool,
    member: str,
    sampling: SamplingParams,
    items: Sequence[tuple[str, str, Any]],
) -> list[Verdict]:
    """Verdicts on (question, subtask, answer) triples, one batch; an answer of None is wrong unasked.
    Each keeps the reviewer's reply, so the outcome table shows why an answer was accepted."""
    asked = [j for j, (_, _, answer) in enumerate(items) if answer is not None]
    prompts = [REVIEW.format(question=items[j][0], subtask=items[j][1], answer=items[j][2]) for j in asked]
    verdicts = [Verdict(False, None)] * len(items)
    for j, out in zip(asked, pool.generate(member, prompts, sampling) if prompts else []):
        verdicts[j] = Verdict(parse_verdict(out.text), out.text)
    return verdicts


def reviewer(pool: ModelPool, spec: dict[str, Any]) -> Callable[[Sequence[tuple[str, str, Any]]], list[Verdict]]:
    """`review` by the member of a `reviewer` parameter block ({member, sampling})."""
    sampling = sampling_from(spec.get("sampling"))
    return lambda items: review(pool, spec["member"], sampling, items)
