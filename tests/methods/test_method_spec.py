"""Entries of `evaluation.methods` as typed methods: shorthand, mappings, default names, defaults
filled from the evaluation block, duplicates, and what each kind tells the pipeline."""

import pytest

from r2_pipeline.methods import (
    Decoding,
    RecheckSpec,
    expand_methods,
    parse_method,
    planned_methods,
    resolve_comparisons,
)
from r2_pipeline.methods.kinds import R2, QueryRouter, Single, Tier

MEMBERS = ["t1", "t2", "t3"]
ROUTERS = ["r2_sft", "r2_round_1", "r2"]
EVALUATION = {"router": {"rule": "cheapest_likely", "min_success": 0.93, "recheck_alpha": 0.1},
              "query_router": {"threshold": 0.8}}


def expand(entries, evaluation=EVALUATION):
    return expand_methods(entries, MEMBERS, evaluation, ROUTERS)


def test_a_kind_name_per_member_expands_to_one_named_method_per_member():
    methods = expand(["single", "tier"])
    assert [m.label for m in methods] == ["single:t1", "single:t2", "single:t3", "tier:t1", "tier:t2", "tier:t3"]
    assert [type(m) for m in methods] == [Single] * 3 + [Tier] * 3
    assert [m.member for m in methods[:3]] == MEMBERS
    one = expand([{"kind": "single", "member": "t3"}, {"kind": "tier", "member": "t1", "name": "my tier"}])
    assert [m.label for m in one] == ["single:t3", "my tier"]


def test_a_trained_routers_name_is_an_r2_method_read_as_the_evaluation_block_says():
    (bare,) = expand(["r2_sft"])
    assert isinstance(bare, R2) and bare.router == "r2_sft" and bare.label == "r2_sft"
    assert bare.decoding == Decoding(rule="cheapest_likely", min_success=0.93) and bare.recheck is None
    (greedy,) = expand(["r2"], {"router": {"min_success": None}})
    assert greedy.decoding.rule == "greedy" and greedy.decoding.allocator_rule() == ("cheapest_likely", None)
    # a mapping with `router` and no `kind` is an r2 method too
    assert isinstance(parse_method({"router": "r2_round_1"}, ROUTERS), R2)


def test_mappings_take_each_kinds_fields_and_name_themselves_when_unnamed():
    entries = [
        {"name": "query_router@0.7", "kind": "query_router", "threshold": 0.7},
        {"kind": "query_router", "threshold": 0.5},
        "query_router",
        {"kind": "r2", "router": "r2_sft", "decoding": {"rule": "cheapest_likely", "min_success": 0.9}},
        {"kind": "r2", "router": "r2_sft", "decoding": {"rule": "escalate", "min_success": 0.99}},
        {"kind": "r2", "router": "r2", "decoding": {"rule": "greedy"}},
        {"kind": "r2", "router": "r2_sft",
         "decoding": {"rule": "cheapest_likely", "min_success": 0.8}, "recheck": {"tau": 0.85, "agree": True}},
        {"router": "r2_sft", "recheck": {"tau": 0.9}},
    ]
    methods = expand(entries)
    assert [m.label for m in methods] == [
        "query_router@0.7", "query_router@0.5", "query_router", "r2_sft@0.9", "r2_sft@escalate=0.99", "r2@greedy",
        "r2_sft@0.8+recheck_agree=0.85", "r2_sft+recheck=0.9"]
    assert [m.threshold for m in methods[:3]] == [0.7, 0.5, 0.8]  # the bare one reads evaluation.query_router
    assert methods[6].recheck == RecheckSpec(tau=0.85, agree=True)
    assert methods[7].decoding.min_success == 0.93 and methods[7].recheck == RecheckSpec(tau=0.9, agree=False)


def test_two_names_for_one_reading_or_one_name_twice_are_refused():
    with pytest.raises(ValueError, match=r"methods \['single:t2'\] are listed twice"):
        expand(["single", {"kind": "single", "member": "t2"}])
    with pytest.raises(ValueError, match=r"methods \['r2'\] are listed twice"):
        expand(["r2", {"name": "r2", "router": "r2_sft"}])
    with pytest.raises(ValueError, match="'r2_sft' and 'at 0.93' are one reading"):
        expand(["r2_sft", {"name": "at 0.93", "router": "r2_sft", "decoding": {"min_success": 0.93}}])
    with pytest.raises(ValueError, match="'query_router' and 'qr' are one reading"):
        expand(["query_router", {"name": "qr", "kind": "query_router", "threshold": 0.8}])
    # a recheck, or agreement, is another reading
    distinct = expand(["r2_sft", {"router": "r2_sft", "recheck": {"tau": 0.9}},
                       {"router": "r2_sft", "recheck": {"tau": 0.9, "agree": True}}])
    assert len({m.reading() for m in distinct}) == 3


def test_one_name_is_one_method_on_every_benchmark():
    """A benchmark's own `methods` replace the top-level list; the planned methods are each
    benchmark's, once each, and a name must mean the same method wherever it is listed."""
    evaluation = {**EVALUATION, "methods": ["single", "r2"],
                  "benchmarks": {"micro": {}, "gsm8k": {"methods": ["r2", {"name": "fast", "router": "r2_sft"}]}}}
    assert [m.label for m in planned_methods(evaluation, MEMBERS, ROUTERS)] == [
        "single:t1", "single:t2", "single:t3", "r2", "fast"]
    evaluation["benchmarks"]["gsm8k"]["methods"] = [{"name": "r2", "router": "r2_sft"}]
    with pytest.raises(ValueError, match=r"'r2' stands for two methods on different benchmarks \(benchmarks\.gsm8k"):
        planned_methods(evaluation, MEMBERS, ROUTERS)


@pytest.mark.parametrize(("entry", "message"), [
    ("r3", r"unknown method 'r3': a string is a kind \['expected_oracle', 'label_policy', 'oracle', 'query_router', 'random', 'single', 'tier'\]"),
    ("single:t1", r"unknown method 'single:t1'.*\{kind: single, member: t1\}"),
    ({"kind": "r9"}, "unknown method kind 'r9'"),
    ({"name": "x"}, "needs `kind`"),
    ({"router": "r2_round_7"}, r"names no trained router: 'r2_round_7'"),
    ({"kind": "r2"}, r"r2 method: router: Field required"),
    ({"router": "r2", "decoding": {"rule": "greedy", "min_success": 0.5}}, "rule 'greedy' reads no min_success"),
    ({"router": "r2", "decoding": {"rule": "escalate"}}, "rule 'escalate' needs min_success"),
    ({"router": "r2", "decoding": {"min_success": 1.5}}, r"decoding\.min_success = 1\.5"),
    ({"router": "r2", "recheck": {"tau": 0}}, r"recheck\.tau = 0"),
    ({"kind": "query_router", "threshold": -0.1}, r"query_router method: threshold = -0\.1"),
    ({"kind": "oracle", "threshold": 0.5}, r"oracle method: threshold = 0\.5: Extra inputs"),
    ({"kind": "single", "name": "big"}, "name 'big' labels one method, but without `member`"),
    (3.5, "a method is a string or a mapping"),
])
def test_a_bad_entry_says_what_is_wrong(entry, message):
    with pytest.raises(ValueError, match=message):
        parse_method(entry, ROUTERS)


def test_what_each_kind_tells_the_pipeline():
    single, tier, random_, oracle, query, r2, rechecked = expand(
        [{"kind": "single", "member": "t1"}, {"kind": "tier", "member": "t1"}, "random", "oracle", "query_router",
         "r2_round_1", {"name": "rc", "router": "r2_sft", "decoding": {"rule": "escalate", "min_success": 0.99},
                        "recheck": {"tau": 0.85, "agree": True}}])
    assert [m.runs_before_training for m in (single, tier, random_, oracle, query, r2)] == [
        True, False, False, False, False, False]
    assert [m.trained_router("r2") for m in (single, tier, random_, oracle, query, r2)] == [
        None, "r2", "r2", "r2", None, "r2_round_1"]
    assert [bool(m.micro_only) for m in (single, tier, random_, oracle, query, r2)] == [
        False, False, False, True, True, False]
    assert single.named_members() == ["t1"] and query.uses_outcomes
    # plot families: one router read at several thresholds is one line; a recheck its own family
    assert [query.family(), r2.family(), rechecked.family(), single.family()] == [
        "query_router", "r2_round_1@cheapest_likely", "r2_sft@escalate+recheck_agree", "single:t1"]
    assert query.tags(EVALUATION) == {"router": "query_router", "threshold": "0.8"}
    assert r2.tags(EVALUATION) == {"router": "r2_round_1", "rule": "cheapest_likely", "threshold": "0.93",
                                   "recheck": "none", "recheck_agree": "none", "recheck_alpha": "none"}
    assert rechecked.tags(EVALUATION) == {"router": "r2_sft", "rule": "escalate", "threshold": "0.99",
                                          "recheck": "0.85", "recheck_agree": "true", "recheck_alpha": "0.1"}
    (greedy,) = expand(["r2"], {"router": {"min_success": None}})
    assert greedy.family() == "r2@greedy" and greedy.tags({})["rule"] == "greedy"
    assert greedy.tags({})["threshold"] == "none"


def test_comparisons_name_methods_and_largest_is_single_on_the_dearest_member():
    methods = expand([{"kind": "single", "member": "t3", "name": "big"}, "r2", {"kind": "single", "member": "t1"}])
    assert resolve_comparisons([["r2", "largest"], ["single:t1", "big"]], methods, "t3") == [
        ("r2", "big"), ("single:t1", "big")]
    with pytest.raises(ValueError, match=r"\['r2_sft'\] not among the methods"):
        resolve_comparisons([["r2_sft", "largest"]], methods, "t3")
    with pytest.raises(ValueError, match="compares 'r2' with itself"):
        resolve_comparisons([["r2", "r2"]], methods, "t3")
    with pytest.raises(ValueError, match=r"\['single on t2'\] not among"):  # nobody runs t2 alone
        resolve_comparisons([["r2", "largest"]], methods, "t2")


def test_specs_are_frozen_and_typed():
    method = QueryRouter(threshold=0.5)
    with pytest.raises(ValueError):
        method.threshold = 0.6
    assert QueryRouter.model_validate({"threshold": "0.5"}).threshold == 0.5
