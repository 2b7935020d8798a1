"""The micro world's SFT targets, made one way for data_generation and for the `label_policy` router:
the teacher's candidates, their one-try verification on the evaluation member, and the grouped
search's member label for every subtask of a chosen plan."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ..reasoning.execute import execute, final_value, fixed_member
from ..tasks import micro
from ..tasks.micro import member_sampling
from .candidates import VERIFY_SEED, teacher_candidates
from .grouped_search import SEARCH_SEED, SearchItem, grouped_search


def candidate_plans(references: Sequence[Sequence[str]], variants: int, world_seed: int) -> list[list[list[str]]]:
    """Per question, in order, the reference teacher's candidates: one generator for the whole list
    (seeded `world_seed + 1`), so a question's variants depend on its place in the list."""
    rng = random.Random(world_seed + 1)
    return [teacher_candidates(reference, variants, rng) for reference in references]


def verify_plans(pool, task, questions: Sequence[str], answers: Sequence[Any], plans: Sequence[Sequence[str]],
                 decomposition: dict) -> tuple[list[int], list[bool]]:
    """Each plan executed by the evaluation member (one try, `decomposition.seed`): the tokens it
    read and wrote (practicality's input), and whether it reached the answer from subtasks the
    members are taught (one step, or a compound of two additive steps): `(6 / 3) + 8` is no subtask
    a member reads, and would reach the answer by luck."""
    traces = execute(pool, task, questions, plans, fixed_member(decomposition["evaluation_member"]),
                     member_sampling(decomposition.get("seed", VERIFY_SEED)))
    tokens = plan_tokens(traces)
    verified = [final_value(trace) == answer and micro.askable(list(plan))
                for trace, answer, plan in zip(traces, answers, plans)]
    return tokens, verified


def plan_tokens(traces) -> list[int]:
    """Practicality's input: the tokens the evaluation member read and wrote for each plan."""
    return [sum(t.prompt_tokens + t.completion_tokens for t in trace) for trace in traces]


def search_items(keys: Sequence[Any], plans: Sequence[Sequence[str]]) -> tuple[list[SearchItem], list[dict]]:
    """One search item per subtask of each plan (earlier values exact), keyed `<key>/<step>`, and
    its row (id, step, subtask, filled)."""
    items, rows = [], []
    for key, plan in zip(keys, plans):
        for k, (subtask, (filled, value)) in enumerate(zip(plan, micro.filled_subtasks(list(plan)) or [])):
            items.append(SearchItem(f"{key}/{k}", micro.member_prompt(filled), value))
            rows.append({"id": key, "step": k, "subtask": subtask, "filled": filled})
    return items, rows


def label_subtasks(pool, ladder: list[str], items: list[SearchItem], allocation: dict) -> list[dict]:
    """The grouped search with data_generation's settings: sets each item's label; returns every
    paid attempt."""
    return grouped_search(pool, ladder, items, micro.parse_member_answer,
                          member_sampling(allocation.get("seed", SEARCH_SEED)), allocation["baseline"],
                          allocation["alpha"], allocation["thresholds"], allocation["start_tiers"],
                          **search_tries(allocation))


def search_tries(allocation: dict) -> dict:
    """The search's `tries` and `accept_share` from data_generation.allocation (default: one try)."""
    return {"tries": allocation.get("tries", 1), "accept_share": allocation.get("accept_share", 0.5)}
