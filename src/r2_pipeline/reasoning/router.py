"""The R2 router at inference: the decomposer writes a plan, the allocator names a member per step.

Both are causal LMs behind the same pool machinery (batched, cached, token-counted); their tokens
are priced as the configured router member and reported apart from the pool's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..pool.base import SamplingParams
from ..pool.pool import ModelPool
from .execute import Allocate


@dataclass
class RouterUsage:
    """Router tokens and cost per question, and how often the allocator's output was invalid."""

    prompt_tokens: list[int]
    completion_tokens: list[int]
    cost_usd: list[float]
    invalid_allocations: int = 0
    allocations: int = 0
    fallback_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int) -> RouterUsage:
        return cls([0] * n, [0] * n, [0.0] * n)

    def add(self, i: int, prompt_tokens: int, completion_tokens: int, cost: float) -> None:
        self.prompt_tokens[i] += prompt_tokens
        self.completion_tokens[i] += completion_tokens
        self.cost_usd[i] += cost


def decompose(
    router: ModelPool, task: Any, questions: Sequence[str], sampling: SamplingParams, usage: RouterUsage
) -> tuple[list[list[str] | None], list[str]]:
    """One batch through the decomposer; returns parsed plans (None when unparseable) and raw texts."""
    outs = router.generate("decomposer", [task.decomposer_prompt(q) for q in questions], sampling)
    for i, out in enumerate(outs):
        usage.add(i, out.prompt_tokens, out.completion_tokens, router.cost("decomposer", out))
    return [task.parse_plan(o.text, q) for o, q in zip(outs, questions)], [o.text for o in outs]


def validate_member(text: str, members: Sequence[str]) -> str | None:
    """The allocator's answer must be exactly one member's name (surrounding space allowed)."""
    name = text.strip()
    return name if name in members else None


def allocator_rule(
    router: ModelPool,
    task: Any,
    questions: Sequence[str],
    members: Sequence[str],
    fallback: str,
    sampling: SamplingParams,
    usage: RouterUsage,
) -> Allocate:
    """An `Allocate` that asks the allocator LM for every active question's step in one batch."""
    if fallback not in members:
        raise ValueError(f"allocator fallback {fallback!r} is not a pool member: {list(members)}")

    def allocate(idx: list[int], step: int, filled: list[str], histories: list) -> list[str]:
        prompts = [task.allocator_prompt(questions[i], h, f) for i, f, h in zip(idx, filled, histories)]
        outs = router.generate("allocator", prompts, sampling)
        chosen = []
        for i, out in zip(idx, outs):
            usage.add(i, out.prompt_tokens, out.completion_tokens, router.cost("allocator", out))
            member = validate_member(out.text, members)
            usage.allocations += 1
            if member is None:
                usage.invalid_allocations += 1
                usage.fallback_counts[fallback] = usage.fallback_counts.get(fallback, 0) + 1
                member = fallback
            chosen.append(member)
        return chosen

    return allocate
