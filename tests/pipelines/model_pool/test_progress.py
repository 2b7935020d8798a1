"""Pool training reports its progress per tier: which tier of how many, the step and the loss."""

import logging

from r2_pipeline.pipelines.model_pool.nodes import train_tiers

TIER = {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1, "buckets": [1], "steps": 3,
        "n_examples": 32, "batch_size": 8, "warmup_steps": 1}


def test_each_tier_logs_its_place_steps_and_loss(caplog):
    params = {"seed": 0, "tiers": {"t1": TIER, "t2": {**TIER, "init_from": "t1"}}}
    with caplog.at_level(logging.INFO, logger="r2_pipeline"):
        _, table = train_tiers(params)
    lines = [r.getMessage() for r in caplog.records]
    assert "tier t1 (1/2): training 3 steps" in lines
    assert "tier t2 (2/2): training 3 steps from t1" in lines
    for tier in ("tier t1 (1/2)", "tier t2 (2/2)"):
        assert any(line.startswith(f"{tier}: step 3/3 loss ") for line in lines), lines
        assert any(line.startswith(f"{tier}: trained in ") and "final loss" in line for line in lines), lines
    assert list(table["member"]) == ["t1", "t2"]
