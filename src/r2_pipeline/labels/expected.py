"""The micro world's expected economics: each member's success rate and cost on a subtask, measured
from many samples, and the plan and allocation of one question that maximise the expected
objective `accuracy - lambda * cost / cost(largest)`.

Every way to ask a question is a grouping of its reference steps (each alone, or two adjacent
additive steps as one compound: `micro.merge_groupings`); each subtask costs its member's call and
the router's allocator call, and each plan the decomposer's call.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from ..tasks import micro

# the seeds of the samples that measure a success rate: a stream apart from every other draw
RATE_SEED = 50_000


@dataclass(frozen=True)
class Rates:
    """Per member: filled subtask -> (success rate, mean cost of one call in USD)."""

    table: dict[str, dict[str, tuple[float, float]]]
    samples: int

    def rate(self, member: str, subtask: str) -> float:
        return self.table[member][subtask][0]

    def cost(self, member: str, subtask: str) -> float:
        return self.table[member][subtask][1]


_MEASURED: dict[tuple, Rates] = {}


def measure_rates(pool, subtasks: Sequence[str], samples: int, members: Sequence[str] | None = None) -> Rates:
    """Ask every member every (filled) subtask `samples` times, seeds RATE_SEED, +1, ... (one
    batch per member and seed): its success rate against the exact value, and its mean cost.
    Kept for the process (the same members, subtasks and samples give the same rates: each
    evaluation seed and lambda of the oracle reads them again)."""
    unique = sorted(set(subtasks))
    members = list(members or pool.members)
    key = (tuple(pool.backends[m].fingerprint for m in members), tuple(members), tuple(unique), samples)
    if key not in _MEASURED:
        _MEASURED.clear()  # one table at a time: a new split or pool replaces it
        _MEASURED[key] = _measure(pool, unique, samples, members)
    return _MEASURED[key]


def _measure(pool, unique: list[str], samples: int, members: list[str]) -> Rates:
    prompts = [micro.member_prompt(s) for s in unique]
    gold = [micro.parse_subtask(s).value for s in unique]
    base = micro.member_sampling(RATE_SEED)
    table = {}
    for member in members:
        right, spent = [0] * len(unique), [0.0] * len(unique)
        for k in range(samples):
            outs = pool.generate(member, prompts, replace(base, seed=RATE_SEED + k))
            for j, (prompt, out) in enumerate(zip(prompts, outs)):
                right[j] += micro.parse_member_answer(prompt, out.text) == gold[j]
                spent[j] += pool.cost(member, out)
        table[member] = {s: (r / samples, c / samples) for s, r, c in zip(unique, right, spent)}
    return Rates(table, samples)


def bucket_rates(rates: Rates, subtasks: Sequence[str], members: Sequence[str]) -> tuple[Rates, dict]:
    """`rates` as a router that knows only each subtask's difficulty bucket would see them: every
    subtask's rate is the mean rate of its bucket over `subtasks` (costs kept). Also returns those
    means, {(member, bucket): rate}."""
    bucket = {f: micro.parse_subtask(f).bucket for f in subtasks}
    sums: dict = defaultdict(float)
    counts: dict = defaultdict(int)
    for f in subtasks:
        for m in members:
            sums[m, bucket[f]] += rates.rate(m, f)
            counts[m, bucket[f]] += 1
    means = {key: sums[key] / counts[key] for key in sums}
    table = {m: {f: (means[m, bucket[f]], rates.cost(m, f)) for f in subtasks} for m in members}
    return Rates(table, rates.samples), means


@dataclass(frozen=True)
class Choice:
    """A plan of one question, the member of each subtask, and its expected accuracy and cost."""

    plan: list[str]
    filled: list[str]
    members: list[str]
    accuracy: float
    cost: float
    objective: float

    @property
    def merged(self) -> bool:
        return any(micro.parse_compound(f) is not None for f in self.filled)


def plan_space(reference: Sequence[str]) -> list[tuple[list[str], list[str]]]:
    """Every grouping of a reference plan as (plan, filled subtasks), the all-single plan first."""
    steps = micro.chain_steps(reference)
    if steps is None:
        raise ValueError(f"the reference plan {list(reference)} is not a chain of single operations")
    out = []
    for grouping in micro.merge_groupings(steps):
        plan = micro.plan_from_groups(steps, grouping)
        out.append((plan, [filled for filled, _ in micro.filled_subtasks(plan)]))
    return out


def best_choice(space: Sequence[tuple[list[str], list[str]]], rates: Rates, ladder: Sequence[str], lam: float,
                cost_largest: float, router_cost: Callable[[list[str], list[str]], tuple[float, float]]
                ) -> Choice:
    """The plan and allocation with the highest expected objective. `router_cost(plan, filled)` is
    (the decomposer's cost for the plan, the allocator's cost per subtask)."""
    best = None
    for plan, filled in space:
        plan_cost, per_subtask = router_cost(plan, filled)
        options = [_undominated([(rates.rate(m, f), rates.cost(m, f) + per_subtask, m) for m in ladder])
                   for f in filled]
        for combo in itertools.product(*options):
            accuracy = math.prod(r for r, _, _ in combo)
            cost = plan_cost + sum(c for _, c, _ in combo)
            objective = accuracy - lam * cost / cost_largest
            if best is None or objective > best.objective + 1e-12:
                best = Choice(plan, filled, [m for _, _, m in combo], accuracy, cost, objective)
    return best


def _undominated(options: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Members no other beats on both rate and cost (ties: the cheaper, then the earlier)."""
    kept = []
    for rate, cost, member in sorted(options, key=lambda o: (o[1], -o[0])):
        if not kept or rate > max(r for r, _, _ in kept):
            kept.append((rate, cost, member))
    return kept
