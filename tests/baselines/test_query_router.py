"""The query-level baseline: kNN estimates per member, the cheapest member above a threshold."""

import numpy as np
import pytest

from r2_pipeline.baselines.query_router import KNNQueryRouter
from r2_pipeline.reasoning.methods import (
    expand_methods,
    method_kind,
    query_router_threshold,
    router_decoding,
)

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


@pytest.mark.parametrize(
    ("method", "kind", "threshold"),
    [("query_router", "query_router", None), ("query_router@0.5", "query_router", 0.5),
     ("query_router@1", "query_router", 1.0)],
)
def test_query_router_method_names(method, kind, threshold):
    assert method_kind(method) == kind
    assert query_router_threshold(method) == threshold


@pytest.mark.parametrize("method", ["query_router@", "query_router@x", "query_router@-0.1"])
def test_bad_query_router_thresholds_are_refused(method):
    with pytest.raises(ValueError, match="query_router@"):
        query_router_threshold(method)


@pytest.mark.parametrize(
    ("method", "kind", "decoding"),
    [("r2_sft", "r2_sft", ("cheapest_likely", 0.93)), ("r2_sft@0.95", "r2_sft", ("cheapest_likely", 0.95)),
     ("r2_round_1@escalate=0.99", "r2_round", ("escalate", 0.99)),
     ("r2@cheapest_likely=0.8", "r2", ("cheapest_likely", 0.8)), ("r2@greedy", "r2", ("cheapest_likely", None))],
)
def test_trained_router_method_names_carry_their_decoding(method, kind, decoding):
    """`r2_sft@<p>`: one trained router read at several thresholds traces its frontier."""
    assert method_kind(method) == kind
    assert router_decoding(method, "cheapest_likely", 0.93) == decoding


@pytest.mark.parametrize("method", ["r2_sft@", "r2_sft@bold=0.9", "r2@escalate=x", "r2@escalate=1.5"])
def test_bad_router_decodings_are_refused(method):
    with pytest.raises(ValueError, match=r"r2(_sft)?@"):
        router_decoding(method, "cheapest_likely", 0.93)


def test_single_and_tier_expand_to_every_member_and_a_repeat_is_refused():
    assert expand_methods(["single", "r2", "tier:t2"], ["t1", "t2"]) == ["single:t1", "single:t2", "r2", "tier:t2"]
    # run twice, a method would count its questions and its cost twice
    with pytest.raises(ValueError, match=r"methods \['single:t2'\] are listed twice"):
        expand_methods(["single", "single:t2"], ["t1", "t2"])
    # one reading under two spellings is one method
    for pair in (["r2_sft@0.9", "r2_sft@0.90"], ["r2_sft@0.9", "r2_sft@cheapest_likely=0.9"],
                 ["r2_sft@0.8+recheck=0.5", "r2_sft@0.8+recheck=0.50"], ["query_router@0.7", "query_router@0.70"]):
        with pytest.raises(ValueError, match="listed twice"):
            expand_methods(pair, ["t1", "t2"])
    assert expand_methods(["r2_sft", "r2_sft@0.93", "r2_sft+recheck=0.5", "r2_sft@0.93+recheck=0.5"],
                          ["t1"]) == ["r2_sft", "r2_sft@0.93", "r2_sft+recheck=0.5", "r2_sft@0.93+recheck=0.5"]
