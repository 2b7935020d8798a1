"""The two idealised routers that measure RL's room: the label policy and the expected-reward oracle."""

import pandas as pd

from r2_pipeline.labels.expected import Rates, bucket_rates
from r2_pipeline.methods.idealised import (
    ExpectedOracle,
    LabelPolicy,
    chosen_plans,
    expected_choices,
    labelled_members,
)
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.reasoning.context import MethodContext
from r2_pipeline.tasks.micro.task import TASK

# t1 solves easy steps half the time, t2 always; compounds only t3 (always) solves
CHANCES = {"t1": {1: 0.5}, "t2": {1: 1.0, 2: 1.0}, "t3": {1: 1.0, 2: 1.0, 6: 1.0, 7: 1.0}}
DATA_GENERATION = {
    "world": {"seed": 7},
    "teacher": {"kind": "reference", "variants": 4},
    "decomposition": {"evaluation_member": "t3", "require_verified": True,
                      "weights": {"conciseness": 0.4, "practicality": 0.4, "coherence": 0.2}, "seed": 1000},
    "allocation": {"baseline": "t2", "alpha": 0.1, "thresholds": [0.95, 0.7], "start_tiers": [0, 1, 2],
                   "seed": 2000},
}


def examples():
    frame = pd.DataFrame({"id": ["a", "b"], "question": ["Mia has 3 coins. Then 4 more. How many?",
                                                         "Mia has 2 coins. Then 5 more. Then 1 lost. How many?"],
                          "answer": [7, 6], "subtasks": ['["3 + 4"]', '["2 + 5", "#1 - 1"]']})
    return TASK.load(frame)


def context():
    return MethodContext(ladder=["t1", "t2", "t3"], final_router="r2", data_generation=DATA_GENERATION)


def test_the_label_policy_replays_data_generation(chance_pool):
    pool = chance_pool(CHANCES)
    plans = chosen_plans(pool, TASK, examples(), DATA_GENERATION)
    assert plans == [["3 + 4"], ["(2 + 5) - 1"]]  # the concise merged plan, verified by t3
    members = labelled_members(pool, [["3 + 4"], ["2 + 5", "#1 - 1"]], ["t1", "t2", "t3"],
                               DATA_GENERATION["allocation"])
    # one try per member: an easy step labels t1 whenever its one try was right
    assert all(m in ("t1", "t2") for plan in members for m in plan)
    result = LabelPolicy().run(pool, TASK, examples(), SamplingParams(max_new_tokens=4, seed=0), context())
    assert [len(t) for t in result.traces] == [1, 1]


def test_the_expected_oracle_avoids_the_coin_flip_and_merges_when_it_pays(chance_pool):
    pool = chance_pool(CHANCES)
    oracle = ExpectedOracle(cost_lambda=0.5, samples=32)
    result = oracle.run(pool, TASK, examples(), SamplingParams(max_new_tokens=4, seed=0), context())
    members = [[t.member for t in trace] for trace in result.traces]
    assert members[0] == ["t2"]  # t1 is right half the time: the oracle pays for t2
    assert all(t.value is not None for trace in result.traces for t in trace)
    assert oracle.resolve({"cost_lambda": 0.2}).cost_lambda == 0.5
    assert ExpectedOracle().resolve({"cost_lambda": 0.2}).label == "expected_oracle@lambda=0.2"


def test_bucket_rates_give_every_subtask_its_buckets_mean_rate():
    subtasks = ["12 + 34", "56 + 21", "3 * 4"]  # two of bucket 2, one of bucket 1
    true = Rates({"a": {"12 + 34": (1.0, 2.0), "56 + 21": (0.5, 3.0), "3 * 4": (0.25, 1.0)}}, samples=4)
    by_bucket, means = bucket_rates(true, subtasks, ["a"])
    assert means == {("a", 2): 0.75, ("a", 1): 0.25}
    assert by_bucket.table["a"] == {"12 + 34": (0.75, 2.0), "56 + 21": (0.75, 3.0), "3 * 4": (0.25, 1.0)}


def test_the_bucket_oracle_knows_a_buckets_rate_not_a_subtasks_luck():
    # t1 always solves 3 + 4 and 7 - 1 but never 2 + 5 (all of bucket 1): 2/3 over the bucket
    ladder, cost = ["t1", "t2", "t3"], {"t1": 1.0, "t2": 10.0, "t3": 100.0}
    rate = {"t1": {"3 + 4": 1.0, "2 + 5": 0.0, "7 - 1": 1.0, "(2 + 5) - 1": 0.0},
            "t2": {"3 + 4": 1.0, "2 + 5": 1.0, "7 - 1": 1.0, "(2 + 5) - 1": 0.0},
            "t3": {"3 + 4": 1.0, "2 + 5": 1.0, "7 - 1": 1.0, "(2 + 5) - 1": 1.0}}
    rates = Rates({m: {f: (r, cost[m]) for f, r in table.items()} for m, table in rate.items()}, samples=4)
    knows_subtask = expected_choices(None, TASK, examples(), ladder, 0.5, 4, rates=rates)
    knows_bucket = expected_choices(None, TASK, examples(), ladder, 0.5, 4, rates=rates, knows="bucket")
    assert knows_subtask[0].members == ["t1"] and knows_bucket[0].members == ["t2"]
    assert ExpectedOracle(knows="bucket").resolve({"cost_lambda": 0.2}).label == "expected_oracle@lambda=0.2@bucket"
    assert ExpectedOracle(knows="bucket").resolve({"cost_lambda": 0.2}).tags({})["knows"] == "bucket"


def test_the_label_policy_follows_the_searchs_tries(chance_pool):
    """With `allocation.tries` the label policy replays the same search: five tries with a 0.8 share
    seldom label t1, whose answer to an easy step is right half the time."""
    pool = chance_pool(CHANCES)
    plans = [[f"{a} + {b}"] for a in range(1, 10) for b in range(1, 10)]
    allocation = DATA_GENERATION["allocation"]
    once = labelled_members(pool, plans, ["t1", "t2", "t3"], allocation)
    five = labelled_members(pool, plans, ["t1", "t2", "t3"], {**allocation, "tries": 5, "accept_share": 0.8})
    assert sum(p == ["t1"] for p in five) < sum(p == ["t1"] for p in once) / 2
