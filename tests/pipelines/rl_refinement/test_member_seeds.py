"""Each phase and round of rl_refinement draws its members' samples from its own seeds."""

import json

import pandas as pd
import pytest

from r2_pipeline.pipelines.rl_refinement import nodes
from r2_pipeline.rl.rewards import STRIDE

POOL = {"members": {"t1": {}, "t2": {}},
        "prices": {m: {"output_per_m": p, "input_per_m": p} for m, p in (("t1", 1), ("t2", 2))}}


def test_phases_rounds_batches_and_repeats_draw_distinct_seeds():
    settings = {"seed": 0}
    drawn = [nodes._sample_seed(settings, phase, k) + b * STRIDE + j
             for phase in ("decomposer", "allocator") for k in (1, 2, 3) for b in range(4) for j in range(16)]
    assert len(set(drawn)) == len(drawn)
    assert min(drawn) == nodes.SAMPLE_SEEDS  # above evaluation's seeds


@pytest.fixture
def built(monkeypatch):
    """The nodes with their environments and training replaced: each returns its environment's seed."""
    monkeypatch.setattr(nodes, "pool_from_params", lambda *a: None)
    monkeypatch.setattr(nodes, "_router", lambda *a: None)
    monkeypatch.setattr(nodes, "largest_cost", lambda *a: 1.0)
    for env in ("DecomposerEnv", "AllocatorEnv"):
        monkeypatch.setattr(nodes, env, lambda *a, **k: k["seed"])
    monkeypatch.setattr(nodes, "_train", lambda model, prompts, settings, env, rl: env)


def test_the_nodes_seed_their_environments_by_phase_and_round(built):
    world = pd.DataFrame({"id": ["q1"], "question": ["Ann has 3 apples. Then she gets 4 more. How many?"],
                          "answer": [7], "subtasks": [json.dumps(["3 + 4"])]})
    phase = {"questions": 1, "seed": 3, "subtasks": "teacher", "trainer": {"per_device_train_batch_size": 1,
                                                                           "num_generations": 1}}
    params = {"decomposer": phase, "allocator": phase, "fallback": "t2", "cost_lambda": 0.5}
    for k in (1, 2):
        base = nodes.SAMPLE_SEEDS + 3 + 1000 * (k - 1)
        assert nodes.refine_decomposer("d", "a", world, {}, POOL, params, round_index=k) == base
        assert nodes.refine_allocator("d", "a", world, {}, POOL, params, round_index=k) == base + 500
