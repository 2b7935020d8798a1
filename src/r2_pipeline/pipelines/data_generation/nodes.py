"""Nodes of `data_generation`: the micro world's seeded, deduplicated, disjoint splits."""

from __future__ import annotations

import json
import random

import pandas as pd

from ...tasks import micro

SPLITS = ("train", "validation", "test")


def generate_world(data_generation: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sample problems until every split is full; a question never appears twice in the world."""
    world = data_generation["world"]
    rng = random.Random(world["seed"])
    total = sum(world["sizes"][s] for s in SPLITS)
    seen, rows = set(), []
    while len(rows) < total:
        problem = micro.sample_problem(rng, world["min_steps"], world["max_steps"], world["bucket_weights"])
        if problem.question in seen:
            continue
        seen.add(problem.question)
        rows.append(_row(len(rows), problem))
    frame = pd.DataFrame(rows)
    cuts = _cuts([world["sizes"][s] for s in SPLITS])
    return tuple(frame.iloc[a:b].reset_index(drop=True) for a, b in cuts)  # type: ignore[return-value]


def _row(index: int, problem: micro.Problem) -> dict:
    return {
        "id": f"micro-{index:06d}",
        "question": problem.question,
        "answer": problem.answer,
        "subtasks": json.dumps(problem.subtasks),
        "buckets": json.dumps(problem.buckets),
        "n_steps": len(problem.steps),
        "hardest_bucket": max(problem.buckets),
    }


def _cuts(sizes: list[int]) -> list[tuple[int, int]]:
    edges = [0]
    for size in sizes:
        edges.append(edges[-1] + size)
    return list(zip(edges[:-1], edges[1:]))
