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


def test_a_tier_may_set_its_own_compound_working(caplog, monkeypatch):
    """A tier's own `compound_working` wins over the pool's; a tier without one takes the pool's."""
    from r2_pipeline.pipelines.model_pool import nodes

    asked = {}
    real = nodes.train_tier

    def recording(**kwargs):
        asked[kwargs["label"]] = kwargs["compound_working"]
        return real(**kwargs)

    monkeypatch.setattr(nodes, "train_tier", recording)
    params = {"seed": 0, "compound_working": False,
              "tiers": {"t1": TIER, "t2": {**TIER, "buckets": [1, 6], "compound_working": True},
                        "t3": {**TIER, "compound_working": None}}}
    with caplog.at_level(logging.INFO, logger="r2_pipeline"):
        _, table = train_tiers(params)
    assert asked == {"tier t1 (1/3)": False, "tier t2 (2/3)": True, "tier t3 (3/3)": False}
    assert list(table["compound_working"]) == [False, True, False]
    lines = [r.getMessage() for r in caplog.records]
    assert "tier t2 (2/3): training 3 steps, showing a compound's working" in lines
    params["compound_working"] = True
    asked.clear()
    train_tiers(params)
    assert asked == {"tier t1 (1/3)": True, "tier t2 (2/3)": True, "tier t3 (3/3)": True}
