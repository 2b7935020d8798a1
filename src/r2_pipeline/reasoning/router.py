"""The R2 router at inference: the decomposer writes a plan, the allocator names a member per step.

Both are causal LMs behind the same pool machinery (batched, cached, token-counted); their tokens
are priced as the configured router member and reported apart from the pool's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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


def member_probabilities(top_logprobs: Sequence[dict[str, float]] | None, members: Sequence[str]) -> dict[str, float]:
    """The allocator's probability of naming each member, read off its top tokens per position.

    Along the greedy path, a member whose name is the greedy prefix plus one alternative token at
    position j, or the only member whose name starts so, gets that path's probability (its
    remaining tokens are taken as certain: exact for names that differ in their last token, such as
    the micro tiers; for `qwen_3b` against greedy `qwen_7b`, `3` leaves `b` to come). Normalised
    over members."""
    positions = list(top_logprobs or [])
    greedy_path = _greedy_path(positions)
    greedy_name = "".join(greedy_path).strip()  # reached along the path itself
    probs: dict[str, float] = {}
    prefix, base = "", 0.0
    for position, greedy in zip(positions, [*greedy_path, None]):
        for token, logprob in position.items():
            name = (prefix + token).strip()
            if name not in members and token != greedy:
                name = _only_member_starting(name, members)
                name = None if name == greedy_name else name
            if name in members and name not in probs:
                probs[name] = math.exp(base + logprob)
        if greedy is None:
            break
        prefix, base = prefix + greedy, base + position[greedy]
    total = sum(probs.values())
    return {m: p / total for m, p in probs.items()} if total > 0 else {}


def _greedy_path(positions: Sequence[dict[str, float]]) -> list[str]:
    """The most likely token at each position, up to the first position with none."""
    path = []
    for position in positions:
        if not position:
            break
        path.append(max(position, key=position.get))
    return path


def _only_member_starting(text: str, members: Sequence[str]) -> str | None:
    """The one member whose name starts with `text`; None when none or several do (or no text)."""
    found = [m for m in members if m.startswith(text)] if text else []
    return found[0] if len(found) == 1 else None


def cheapest_likely(probs: dict[str, float], ladder: Sequence[str], min_success: float) -> str | None:
    """The cheapest member m with P(label <= m) >= min_success.

    The allocator learnt to name the cheapest member that answers a step; on a ladder where a dearer
    member answers what a cheaper one does, P(label <= m) estimates P(m answers the step)."""
    cumulative = 0.0
    for member in ladder:
        cumulative += probs.get(member, 0.0)
        if cumulative >= min_success - 1e-9:
            return member
    return None


def trust_or_escalate(probs: dict[str, float], named: str, ladder: Sequence[str], min_success: float) -> str:
    """The member the allocator names when P(label <= it) >= min_success, else the dearest member.

    `cheapest_likely` moves an uncertain step one rung up at a time, which on a ladder that is not
    nested can buy a member that is wrong more often (micro: t4 answers fewer two-digit sums than
    t3). This rule defers every step the allocator is unsure of to the strongest member instead:
    dearer per uncertain step, but never a step handed to a weaker one."""
    if named not in ladder or not probs:  # no probabilities to read: the named member, as cheapest_likely
        return named
    reach = sum(probs.get(member, 0.0) for member in ladder[: list(ladder).index(named) + 1])
    return named if reach >= min_success - 1e-9 else ladder[-1]


# how `min_success` reads the allocator's probabilities (evaluation.router.rule)
ALLOCATOR_RULES = ("cheapest_likely", "escalate")


def read_allocation(probs: dict[str, float], named: str, ladder: Sequence[str], min_success: float | None,
                    rule: str = "cheapest_likely") -> str:
    """The member one allocator output stands for: the named one (greedy, min_success None), else
    `rule` at `min_success` over the allocator's probabilities."""
    if min_success is None:
        return named
    if rule == "escalate":
        return trust_or_escalate(probs, named, ladder, min_success)
    return cheapest_likely(probs, ladder, min_success) or named


def allocator_rule(
    router: ModelPool,
    task: Any,
    questions: Sequence[str],
    members: Sequence[str],
    fallback: str,
    sampling: SamplingParams,
    usage: RouterUsage,
    min_success: float | None = None,
    ladder: Sequence[str] | None = None,
    rule: str = "cheapest_likely",
) -> Allocate:
    """An `Allocate` that asks the allocator LM for every active question's step in one batch.

    Greedy by default: the member the allocator names. With `min_success` and rule
    `cheapest_likely`, the cheapest member on `ladder` whose estimated chance of answering the step
    reaches it, which turns the allocator's uncertainty into caution instead of always taking its
    single best guess; with rule `escalate`, the named member if its estimated chance reaches
    `min_success`, else the dearest member (`trust_or_escalate`)."""
    if fallback not in members:
        raise ValueError(f"allocator fallback {fallback!r} is not a pool member: {list(members)}")
    if rule not in ALLOCATOR_RULES:
        raise ValueError(f"allocator rule {rule!r} is not one of {list(ALLOCATOR_RULES)}")
    if min_success is not None:
        if not 0.0 < min_success <= 1.0:
            raise ValueError(f"allocator min_success must be in (0, 1], got {min_success}")
        ladder = list(ladder or members)
        sampling = replace(sampling, top_logprobs=max(sampling.top_logprobs, len(ladder)))

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
            elif min_success is not None:
                if not out.top_logprobs:  # else every threshold would silently read as greedy
                    raise ValueError(f"the allocator's output {out.text!r} came back without top_logprobs, and "
                                     f"rule {rule} at min_success {min_success} reads them: serve the router where "
                                     "it returns log-probabilities (in process, vLLM, OpenAI), or decode greedily "
                                     "(min_success null)")
                member = read_allocation(member_probabilities(out.top_logprobs, members), member, ladder,
                                         min_success, rule)
            chosen.append(member)
        return chosen

    return allocate
