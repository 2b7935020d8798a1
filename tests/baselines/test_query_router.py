"""The query-level baseline: kNN estimates per member, the cheapest member above a threshold."""

import numpy as np

from r2_pipeline.baselines.query_router import KNNQueryRouter

QUESTIONS = ["add two small numbers", "add two small values", "multiply three big numbers", "multiply big values"]
# outcomes[i, m]: member m (cheap, dear) solved training question i
OUTCOMES = np.array([[1, 1], [1, 1], [0, 1], [0, 1]])


def test_cheapest_member_reaching_the_threshold():
    router = KNNQueryRouter(["cheap", "dear"], k=2, threshold=0.9).fit(QUESTIONS, OUTCOMES)
    assert router.choose(["add two small things", "multiply big numbers"]) == ["cheap", "dear"]


def test_threshold_override_trades_accuracy_for_cost():
    router = KNNQueryRouter(["cheap", "dear"], k=4, threshold=0.9).fit(QUESTIONS, OUTCOMES)
    # every estimate for `cheap` is 0.5 with all four neighbours
    assert router.choose(["add two small things"]) == ["dear"]
    assert router.choose(["add two small things"], threshold=0.5) == ["cheap"]
