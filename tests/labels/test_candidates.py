"""Candidate decompositions and the paper's three-part score."""

import random

from r2_pipeline.labels.candidates import (
    coherence,
    merged,
    score_candidates,
    split,
    teacher_candidates,
)
from r2_pipeline.tasks import micro

REF = ["4 * 4", "#1 + 80", "#2 - 7"]
WEIGHTS = {"conciseness": 0.4, "practicality": 0.4, "coherence": 0.2}


def value(subtasks):
    values = micro.evaluate_subtasks(subtasks)
    return values[-1] if values else None


def test_split_keeps_the_answer_and_renumbers():
    out = split(REF, 1)
    assert out == ["4 * 4", "#1 + 70", "#2 + 10", "#3 - 7"] and value(out) == value(REF)
    assert split(REF, 0) is None  # not an addition


def test_merge_fuses_two_steps_and_renumbers():
    assert merged(REF, 0) == ["(4 * 4) + 80", "#1 - 7"]
    assert merged(REF, 1) == ["4 * 4", "(#1 + 80) - 7"]
    # a later step that reads the merged-away step gets its expression: the values stay the same
    plan = ["2 + 3", "#1 * 4", "#2 - #1"]
    assert merged(plan, 0) == ["(2 + 3) * 4", "#1 - (2 + 3)"]
    assert micro.evaluate_subtasks(plan)[-1] == 15


def test_teacher_starts_with_the_reference():
    cands = teacher_candidates(REF, 2, random.Random(0))
    assert cands[0] == REF and len(cands) == 3


def test_coherence():
    assert coherence(REF) == 1.0
    assert coherence(["4 * 4", "5 + 80"]) == 0.0


def test_score_prefers_concise_cheap_coherent_verified():
    cands = [REF, split(REF, 1), merged(REF, 0)]
    scored = score_candidates(cands, tokens=[36, 48, 30], verified=[True, True, False], weights=WEIGHTS)
    assert scored[0].score > scored[1].score  # fewer steps, fewer tokens
    assert scored[2].conciseness > scored[0].conciseness and not scored[2].verified


def test_a_merged_plan_that_reaches_the_answer_is_not_verified(monkeypatch):
    """`(6 / 3) + 8` is no step a member reads (the micro world cannot execute it): reaching the
    gold through the fallback prompt is luck, and such a plan must not become an SFT target."""
    import json

    import pandas as pd

    from r2_pipeline.labels import micro_labels
    from r2_pipeline.pipelines.data_generation import nodes

    monkeypatch.setattr(nodes, "pool_from_params", lambda manifest, pool: None)
    monkeypatch.setattr(micro_labels, "execute", lambda pool, task, questions, plans, rule, sampling: [[]] * len(plans))
    monkeypatch.setattr(micro_labels, "final_value", lambda trace: 10)  # both plans "reach" the gold
    world = pd.DataFrame({"id": ["q"], "question": ["..."], "answer": [10]})
    candidates = pd.DataFrame({"id": ["q", "q"], "candidate": [0, 1],
                               "subtasks": [json.dumps(["6 / 3", "#1 + 8"]), json.dumps(["(6 / 3) + 8"])]})
    spec = {"decomposition": {"evaluation_member": "t5", "require_verified": True, "weights": WEIGHTS}}
    out = nodes.score_decompositions(candidates, world, {}, {}, spec)
    assert out["verified"].tolist() == [True, False]
    assert out["chosen"].tolist() == [True, False]  # the shorter merged plan would score higher
