"""Candidate decompositions from the teacher and the paper's score: conciseness, practicality, coherence."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..tasks import micro

# the seed of a sampled evaluation member's one try at each candidate (data_generation.decomposition.seed):
# a stream apart from evaluation's seeds, so no test answer is the one a label was made from
VERIFY_SEED = 1000


def merged(subtasks: Sequence[str], k: int) -> list[str]:
    """Subtasks k and k+1 (0-based) fused into one expression; later references renumbered, and a
    later reference to step k itself (merged away) replaced by its expression."""
    inner = f"({subtasks[k]})"

    def inline(text: str) -> str:
        return micro.REF.sub(lambda m: inner if int(m.group(1)) == k + 1 else m.group(0), text)

    later = [_shift_refs(inline(s), above=k + 1, by=-1) for s in subtasks[k + 2 :]]
    return list(subtasks[:k]) + [inline(subtasks[k + 1])] + later


def split(subtasks: Sequence[str], k: int) -> list[str] | None:
    """An addition `a + n` (n >= 10) split into `a + n1`, `#k + n2`; None when not splittable."""
    match = re.match(r"^(.+?) \+ (\d+)$", subtasks[k])
    if not match or int(match.group(2)) < 10:
        return None
    n = int(match.group(2))
    first, second = n - n % 10, n % 10 or 10
    if second == 10:
        first -= 10
    out = list(subtasks[:k]) + [f"{match.group(1)} + {first}", f"#{k + 1} + {second}"]
    out += [_shift_refs(s, above=k, by=1) for s in subtasks[k + 1 :]]
    return out


def _shift_refs(subtask: str, above: int, by: int) -> str:
    return micro.REF.sub(lambda m: f"#{int(m.group(1)) + by}" if int(m.group(1)) > above else m.group(0), subtask)


def teacher_candidates(reference: Sequence[str], n_variants: int, rng: random.Random) -> list[list[str]]:
    """The micro teacher: the reference decomposition, then `n_variants` others drawn from every
    plan that merges adjacent additive steps into compound subtasks (`micro.merge_groupings`) and
    every split of an addition."""
    steps = micro.chain_steps(reference)
    others = [micro.plan_from_groups(steps, g) for g in micro.merge_groupings(steps)[1:]] if steps else []
    others += [s for k in range(len(reference)) if (s := split(reference, k))]
    rng.shuffle(others)
    return [list(reference)] + others[:n_variants]


@dataclass
class Scored:
    subtasks: list[str]
    conciseness: float
    practicality: float
    coherence: float
    verified: bool
    score: float


def coherence(subtasks: Sequence[str]) -> float:
    """Share of subtasks after the first that build on the one just before them."""
    if len(subtasks) < 2:
        return 1.0
    linked = sum(f"#{k}" in micro.REF.sub(lambda m: f"#{m.group(1)}", s) for k, s in enumerate(subtasks[1:], 1))
    return linked / (len(subtasks) - 1)


def score_candidates(
    candidates: Sequence[Sequence[str]], tokens: Sequence[int], verified: Sequence[bool], weights: dict
) -> list[Scored]:
    """Weighted sum of the three criteria, each scaled to [0, 1] within one question's candidates."""
    most_steps = max(len(c) for c in candidates)
    most_tokens = max(*tokens, 1)
    out = []
    for cand, spent, ok in zip(candidates, tokens, verified):
        concise = 1 - (len(cand) - 1) / max(most_steps, 1)
        practical = 1 - spent / most_tokens
        coherent = coherence(cand)
        score = (
            weights["conciseness"] * concise + weights["practicality"] * practical + weights["coherence"] * coherent
        )
        out.append(Scored(list(cand), concise, practical, coherent, ok, score))
    return out
