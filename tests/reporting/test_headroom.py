"""RL's room per lambda: the oracle against the label policy, the router's gain against r2_sft."""

import pandas as pd
import pytest

from r2_pipeline.reporting.headroom import headroom

POINT = {"cost_lambda": 0.5, "oracle": "oracle", "label_policy": "label", "router": "r2", "baseline": "r2_sft"}


def rows(method: str, correct: list[int], cost: float) -> list[dict]:
    return [{"benchmark": "micro", "method": method, "id": f"q{i // 2}", "seed": i % 2, "correct": c, "cost_usd": cost}
            for i, c in enumerate(correct)]


def test_room_and_gain_are_paired_objective_differences():
    results = pd.DataFrame(rows("single:t5", [1] * 8, 10.0) + rows("oracle", [1] * 8, 2.0)
                           + rows("label", [1, 0] * 4, 1.0) + rows("r2", [1, 1, 1, 0] * 2, 2.0)
                           + rows("r2_sft", [1, 0] * 4, 1.0))
    table = headroom(results, [POINT], largest="single:t5", resamples=200)
    row = table.iloc[0]
    assert row["oracle_objective"] == pytest.approx(1 - 0.5 * 0.2)
    assert row["label_policy_objective"] == pytest.approx(0.5 - 0.5 * 0.1)
    assert row["room"] == pytest.approx(0.45) and row["room_low"] - 1e-9 <= 0.45 <= row["room_high"] + 1e-9
    assert row["gain"] == pytest.approx(0.25 - 0.05) and row["gain_share_of_room"] == pytest.approx(0.2 / 0.45)


def test_a_point_whose_methods_did_not_run_is_left_out():
    results = pd.DataFrame(rows("single:t5", [1] * 4, 10.0) + rows("oracle", [1] * 4, 2.0))
    assert headroom(results, [POINT], largest="single:t5").empty


def test_a_bucket_oracle_that_ran_gets_its_room_over_the_label_policy():
    results = pd.DataFrame(rows("single:t5", [1] * 8, 10.0) + rows("oracle", [1] * 8, 2.0)
                           + rows("bucket", [1, 1, 1, 0] * 2, 2.0) + rows("label", [1, 0] * 4, 1.0)
                           + rows("r2", [1, 1, 1, 0] * 2, 2.0) + rows("r2_sft", [1, 0] * 4, 1.0))
    row = headroom(results, [{**POINT, "bucket_oracle": "bucket"}], largest="single:t5", resamples=200).iloc[0]
    assert row["bucket_oracle_objective"] == pytest.approx(0.75 - 0.5 * 0.2)
    assert row["bucket_room"] == pytest.approx(0.65 - 0.45) and row["bucket_room_low"] <= row["bucket_room_high"]
    missing = headroom(results, [{**POINT, "bucket_oracle": None}], largest="single:t5", resamples=200).iloc[0]
    assert pd.isna(missing["bucket_room"]) and missing["room"] == pytest.approx(0.45)
