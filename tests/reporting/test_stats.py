"""Intervals and paired tests for comparing methods (stats.py), and the evaluation node that
writes them (compare_methods)."""

import math

import numpy as np
import pandas as pd
import pytest

from r2_pipeline.pipelines.evaluation.nodes import compare_methods
from r2_pipeline.reporting.stats import (
    PairedComparison,
    beats,
    mcnemar_exact,
    paired_comparison,
    score_interval,
    wilson_interval,
)


@pytest.mark.parametrize(
    "successes, n, low, high",
    [  # worked by hand from the score formula; 0/20 and 20/20 have the closed form z^2 / (n + z^2)
        (485, 500, 0.951096, 0.981737),
        (0, 20, 0.0, 0.161125),
        (20, 20, 0.838875, 1.0),
        (5, 10, 0.236593, 0.763407),
    ],
)
def test_wilson_interval_matches_reference_values(successes, n, low, high):
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=1e-6)


def test_score_interval_is_wilson_for_right_and_wrong_and_normal_for_graded_scores():
    assert score_interval([1.0] * 485 + [0.0] * 15) == wilson_interval(485, 500)
    graded = [0.5, 0.25, 1.0, 0.75]
    low, high = score_interval(graded)
    half = 1.959964 * np.std(graded, ddof=1) / 2
    assert (low, high) == pytest.approx((0.625 - half, min(1.0, 0.625 + half)), abs=1e-5)
    with pytest.raises(ValueError, match="at least one"):
        score_interval([])


@pytest.mark.parametrize("successes, n", [(1, 0), (-1, 5), (6, 5)])
def test_wilson_interval_refuses_impossible_counts(successes, n):
    with pytest.raises(ValueError, match="n=0|within 0"):
        wilson_interval(successes, n)


@pytest.mark.parametrize(
    "a_better, b_better, p",
    [
        (0, 0, 1.0),  # no discordant pair: no evidence either way
        (3, 3, 1.0),
        (10, 0, 2 / 2**10),  # all ten discordant pairs favour A
        (0, 10, 2 / 2**10),
        (7, 2, 0.1796875),  # binom.test(2, 9) two-sided
        (14, 4, 0.0308838),  # binom.test(4, 18)
    ],
)
def test_mcnemar_exact_is_the_two_sided_binomial_test(a_better, b_better, p):
    assert mcnemar_exact(a_better, b_better) == pytest.approx(p, rel=1e-5)


def test_a_method_against_itself_differs_by_nothing():
    rng = np.random.default_rng(1)
    correct, cost = rng.random(200) < 0.8, rng.random(200)
    out = paired_comparison(correct, correct, cost, cost)
    assert out.accuracy_diff == out.accuracy_diff_low == out.accuracy_diff_high == 0
    assert out.cost_ratio == pytest.approx(1) and out.cost_ratio_low == pytest.approx(1)
    assert out.mcnemar_p == 1 and out.method_better == out.baseline_better == 0
    assert not out.beats  # equal on both axes is not better


def test_paired_interval_brackets_the_difference_and_is_reproducible():
    rng = np.random.default_rng(2)
    baseline = rng.random(500) < 0.9
    method = baseline.copy()
    method[:10] = True  # ten questions the baseline may miss become right
    cost_b, cost_a = np.full(500, 1.0), np.full(500, 0.25)
    out = paired_comparison(method, baseline, cost_a, cost_b, seed=3)
    assert out.accuracy_diff_low <= out.accuracy_diff <= out.accuracy_diff_high
    assert out.baseline_better == 0 and out.accuracy_diff == out.method_better / 500
    assert out.cost_ratio == out.cost_ratio_low == out.cost_ratio_high == pytest.approx(0.25)
    assert out.beats
    assert paired_comparison(method, baseline, cost_a, cost_b, seed=3) == out


def test_the_bootstrap_in_blocks_is_the_bootstrap_in_one_draw():
    """Blocks bound memory on big benchmarks; drawn from one generator, they give the same
    resamples as a single draw."""
    from r2_pipeline.reporting.stats import Bootstrap, resampled_sums

    rng = np.random.default_rng(5)
    columns = {"diff": rng.random(50) - 0.5, "cost": rng.random(50)}
    codes, bootstrap = np.arange(50), Bootstrap(resamples=30, seed=1)
    whole = resampled_sums(columns, codes, 50, bootstrap, cells=10**9)
    blocks = resampled_sums(columns, codes, 50, bootstrap, cells=50 * 7)  # blocks of 7 resamples
    assert all(np.allclose(whole[name], blocks[name]) for name in columns) and len(blocks["diff"]) == 30


def test_pairing_narrows_the_interval_of_two_correlated_methods():
    """Two methods that agree on most questions: the paired interval is far narrower than the
    unpaired one, which is why comparisons pair by question."""
    rng = np.random.default_rng(4)
    baseline = rng.random(500) < 0.9
    method = baseline.copy()
    flip = rng.choice(500, size=12, replace=False)
    method[flip] = ~method[flip]
    out = paired_comparison(method, baseline, np.ones(500), np.ones(500))
    unpaired = 1.96 * math.sqrt(2 * 0.9 * 0.1 / 500)
    assert out.accuracy_diff_high - out.accuracy_diff_low < unpaired


def test_graded_scores_count_which_method_scored_higher():
    """Token-F1 tasks score between 0 and 1: the test counts the questions where one scores higher."""
    out = paired_comparison([0.5, 1.0, 0.2, 0.0], [0.4, 1.0, 0.6, 0.0], [1.0] * 4, [1.0] * 4)
    assert (out.method_better, out.baseline_better) == (1, 1) and out.mcnemar_p == 1
    assert out.accuracy_diff == pytest.approx((0.1 - 0.4) / 4)


def test_a_baseline_free_on_most_questions_has_an_infinite_upper_ratio():
    out = paired_comparison([True] * 20, [True] * 20, [1.0] * 20, [0.0] * 18 + [2.0, 2.0], seed=0)
    assert out.cost_ratio == 5.0 and out.cost_ratio_low > 0 and out.cost_ratio_high == math.inf


def test_a_ratio_bound_next_to_an_infinite_resample_is_its_order_statistic():
    """Interpolating between 3 and inf gives nan; the bound is 3, not inf."""
    from r2_pipeline.reporting.stats import ratio_bounds

    assert ratio_bounds(np.array([1.0, 2.0, 3.0, np.inf, np.inf]), [50, 50]) == (3.0, 3.0)
    assert ratio_bounds(np.array([1.0, 2.0, np.inf, np.inf, np.nan]), [10, 90]) == (pytest.approx(1.3), math.inf)
    assert ratio_bounds(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), [2.5, 97.5]) == (pytest.approx(1.1), pytest.approx(4.9))


def test_a_free_baseline_has_no_cost_ratio():
    out = paired_comparison([True, False], [True, True], [1.0, 1.0], [0.0, 0.0])
    assert math.isnan(out.cost_ratio) and math.isnan(out.cost_ratio_low)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"correct": []}, "non-empty"),
        ({"cost": [1.0]}, "equal"),
        ({"confidence": 1.0}, "confidence"),
        ({"resamples": 0}, "resamples"),
        ({"clusters": ["a"]}, "clusters name 1 rows"),
        ({"clusters": ["a", "a", "b"], "correct": [True] * 3, "baseline_correct": [True] * 3, "cost": [1.0] * 3,
          "baseline_cost": [1.0] * 3}, "between 1 and 2 seed rows"),
    ],
)
def test_paired_comparison_refuses_bad_input(kwargs, message):
    args = {"correct": [True, False], "baseline_correct": [True, True], "cost": [1.0, 1.0],
            "baseline_cost": [2.0, 2.0], **kwargs}
    with pytest.raises(ValueError, match=message):
        paired_comparison(**args)


@pytest.mark.parametrize(
    "acc, cost, base_acc, base_cost, expected",
    [
        (0.95, 0.2, 0.96, 1.0, False),  # cheaper but less accurate: a trade-off, not a win
        (0.96, 0.2, 0.96, 1.0, True),  # cheaper at equal accuracy
        (0.97, 1.0, 0.96, 1.0, True),  # more accurate at equal cost
        (0.97, 1.1, 0.96, 1.0, False),
        (0.96, 1.0, 0.96, 1.0, False),
    ],
)
def test_beats_is_the_issue_criterion(acc, cost, base_acc, base_cost, expected):
    assert beats(acc, cost, base_acc, base_cost) is expected


# ---------------------------------------------------------------- the evaluation node

POOL = {"members": {"t1": {}, "t2": {}},
        "prices": {"t1": {"input_per_m": 1, "output_per_m": 1}, "t2": {"input_per_m": 5, "output_per_m": 5}}}


def results(methods: dict[str, tuple[list[bool], list[float]]], ids=None, seeds=None) -> pd.DataFrame:
    """Rows of `methods` (method -> (correct, cost)); entry i is question ids[method][i] (default i)
    under seed seeds[method][i] (default 0)."""
    rows = []
    for method, (correct, cost) in methods.items():
        for i, (c, usd) in enumerate(zip(correct, cost)):
            rows.append({"benchmark": "micro", "method": method, "id": (ids or {}).get(method, range(100))[i],
                         "seed": (seeds or {}).get(method, [0] * 100)[i], "correct": c, "cost_usd": usd})
    return pd.DataFrame(rows)


def evaluation(pairs, methods=("single", "r2_sft", "r2")) -> dict:
    return {"benchmarks": {"micro": {}}, "methods": list(methods), "comparisons": {"pairs": pairs, "resamples": 200}}


def test_compare_methods_pairs_answers_by_question_id():
    table = results({"r2": ([True, True, False], [1.0, 2.0, 3.0]),
                     "single:t2": ([False, False, True], [10.0, 10.0, 10.0])},
                    ids={"r2": ["a", "b", "c"], "single:t2": ["c", "a", "b"]})  # same questions, shuffled
    out = compare_methods(table, POOL, evaluation([["r2", "largest"]]))
    assert list(out.columns) == ["benchmark", "method", "baseline", *PairedComparison.columns()]
    row = out.iloc[0]
    assert (row["method"], row["baseline"]) == ("r2", "single:t2")  # `largest` is the dearest member
    # by id: a (r2 right, t2 wrong), b (both right), c (both wrong); by position it would be 2 and 1
    assert row["method_better"] == 1 and row["baseline_better"] == 0
    assert row["cost_ratio"] == pytest.approx(6 / 30) and row["beats"]


def test_compare_methods_refuses_mismatched_questions():
    table = results({"r2": ([True, True], [1.0, 1.0]), "r2_sft": ([True, True], [1.0, 1.0])},
                    ids={"r2": ["a", "b"], "r2_sft": ["a", "z"]})
    with pytest.raises(ValueError, match="different questions"):
        compare_methods(table, POOL, evaluation([["r2", "r2_sft"]]))


@pytest.mark.parametrize(
    "pair, message",
    [(["r2", "query_router"], r"\['query_router'\] not among the methods"),
     (["r2", "r2"], "with itself")],
)
def test_compare_methods_names_a_bad_pair(pair, message):
    table = results({"r2": ([True], [1.0])})
    with pytest.raises(ValueError, match=message):
        compare_methods(table, POOL, evaluation([pair]))


def test_a_pair_a_benchmark_does_not_run_is_left_out_of_it():
    table = results({"r2": ([True], [1.0]), "r2_sft": ([True], [1.0])})
    spec = evaluation([["r2", "r2_sft"], ["r2", "single:t1"]])
    out = compare_methods(table, POOL, spec)  # single:t1 is configured but absent from the results
    assert list(zip(out["method"], out["baseline"])) == [("r2", "r2_sft")]


def test_no_pairs_no_rows():
    out = compare_methods(results({"r2": ([True], [1.0])}), POOL, {"benchmarks": {"micro": {}}, "methods": ["r2"]})
    assert out.empty and "accuracy_diff" in out.columns


def test_a_query_router_only_a_benchmark_lists_is_fitted():
    """`methods` of one benchmark count as much as the top-level list: the query router it names
    is fitted, and its comparison pairs are valid."""
    from types import SimpleNamespace

    from r2_pipeline.methods import planned_methods
    from r2_pipeline.pipelines.evaluation.nodes import method_context

    spec = {"benchmarks": {"micro": {"methods": ["query_router", "single"]}}, "methods": ["r2"],
            "query_router": {"k": 2}}
    assert [m.label for m in planned_methods(spec, ["t1", "t2"], ["r2"])] == ["query_router", "single:t1", "single:t2"]
    outcomes = pd.DataFrame({"question": ["add two and two", "take one away", "double it"],
                             "t1": [1.0, 0.0, 1.0], "t2": [1.0, 1.0, 1.0]})
    context = method_context(POOL, spec, SimpleNamespace(cache=None), outcomes, ())
    assert context.query_router is not None
    assert context.recheck_alpha == 0.0  # a recheck reads an answer's lowest token probability
    lenient = method_context(POOL, {**spec, "router": {"recheck_alpha": 0.1}}, SimpleNamespace(cache=None), outcomes, ())
    assert lenient.recheck_alpha == 0.1
    table = results({"query_router": ([True], [1.0]), "single:t2": ([True], [2.0])})
    out = compare_methods(table, POOL, {**spec, "comparisons": {"pairs": [["query_router", "largest"]]}})
    assert len(out) == 1
    with pytest.raises(ValueError, match=r"\['r2'\] not among"):  # r2 is listed, but no benchmark runs it
        compare_methods(table, POOL, {**spec, "comparisons": {"pairs": [["r2", "largest"]]}})


def test_null_or_partial_router_blocks_keep_the_defaults():
    """The schema accepts null `fallback` and `sampling` blocks, and blocks that set a field or two:
    every unset field is the default, never a crash or SamplingParams' 16 tokens for a plan."""
    from types import SimpleNamespace

    from r2_pipeline.pipelines.evaluation.nodes import method_context

    spec = {"methods": ["single"], "benchmarks": {"micro": {}}}
    for router in [None, {"fallback": None, "sampling": None, "allocator_sampling": None},
                   {"sampling": {"temperature": 0}, "allocator_sampling": {"max_new_tokens": None}}]:
        context = method_context(POOL, {**spec, "router": router}, SimpleNamespace(cache=None), None, ())
        assert context.fallback == "t2"  # the dearest member
        assert context.router_sampling.max_new_tokens == 64 and context.allocator_sampling.max_new_tokens == 4
    tuned = method_context(POOL, {**spec, "router": {"sampling": {"max_new_tokens": 32, "temperature": 0.5}}},
                           SimpleNamespace(cache=None), None, ())
    assert tuned.router_sampling.max_new_tokens == 32 and tuned.router_sampling.temperature == 0.5


def test_one_router_at_several_thresholds_is_drawn_as_one_frontier():
    from r2_pipeline.reporting.plots import plot_accuracy_cost

    families = {"query_router": "query_router", "query_router@0.7": "query_router",
                "r2_sft": "r2_sft@cheapest_likely", "r2_sft@0.9": "r2_sft@cheapest_likely",
                "r2_sft@escalate=0.9": "r2_sft@escalate", "r2_sft@escalate=0.99": "r2_sft@escalate"}
    names = [*families, "single:t5"]
    metrics = {"micro": {n: {"cost_usd": 0.01 * (k + 1), "accuracy": 0.5} for k, n in enumerate(names)}}
    figure = plot_accuracy_cost(metrics, families)
    lines = figure.axes[0].lines
    assert len(lines) == 3  # one line per family with more than one point, in its points' colour
    from matplotlib.colors import to_rgba

    points = figure.axes[0].collections  # one scatter per family, in the same order as the lines
    assert [tuple(p.get_facecolor()[0]) for p in points[:3]] == [to_rgba(line.get_color()) for line in lines]
    assert len({to_rgba(line.get_color()) for line in lines}) == 3
    # the right panel holds the methods near the best accuracy, each labelled; the left the others
    metrics["micro"]["single:t1"] = {"cost_usd": 0.001, "accuracy": 0.1}
    full, top = plot_accuracy_cost(metrics, families).axes
    assert [a.get_text() for a in full.texts] == ["single:t1"]
    assert sorted(a.get_text() for a in top.texts) == sorted(names)
    assert [text.get_text() for text in full.get_legend().get_texts()] == [
        "query_router", "r2_sft@cheapest_likely", "r2_sft@escalate"]


# ---------------------------------------------------------------- several evaluation seeds


def test_a_question_answered_alike_under_every_seed_counts_once():
    """Three seeds of identical answers: the bootstrap draws questions, so the intervals are those of
    one seed, and the pair counts (and so McNemar's test) count each question once."""
    rng = np.random.default_rng(6)
    method, baseline, cost = rng.random(40) < 0.8, rng.random(40) < 0.7, rng.random(40) + 0.5
    one = paired_comparison(method, baseline, cost, np.ones(40), seed=2, largest_cost=1.0, cost_lambda=0.5)
    three = paired_comparison(np.tile(method, 3), np.tile(baseline, 3), np.tile(cost, 3), np.ones(120), seed=2,
                              clusters=np.tile(np.arange(40), 3), largest_cost=1.0, cost_lambda=0.5)
    assert (three.n, three.seeds, one.seeds) == (40, 3, 1)
    for name in ("accuracy_diff", "accuracy_diff_low", "accuracy_diff_high", "cost_ratio", "cost_ratio_low",
                 "cost_ratio_high", "objective_diff", "objective_diff_low", "objective_diff_high", "cost_usd"):
        assert getattr(three, name) == pytest.approx(getattr(one, name)), name
    assert (three.method_better, three.baseline_better, three.mcnemar_p) == \
        (one.method_better, one.baseline_better, one.mcnemar_p)


def test_the_objective_difference_weighs_cost_by_the_largest_methods_cost():
    out = paired_comparison([1, 1, 0, 1], [1, 0, 0, 1], [0.5, 0.5, 0.5, 0.5], [2.0, 2.0, 2.0, 2.0],
                            cost_lambda=0.5, largest_cost=2.0, resamples=50)
    # accuracy 0.75 - 0.5 * 0.25 against 0.5 - 0.5 * 1.0
    assert out.objective_diff == pytest.approx(0.625 - 0.0)
    assert out.objective_diff_low <= out.objective_diff <= out.objective_diff_high
    assert math.isnan(paired_comparison([1], [0], [1.0], [1.0], resamples=5).objective_diff)  # no largest


def test_the_cluster_interval_is_wider_than_one_that_takes_seeds_as_questions():
    """Twenty questions answered alike under five seeds hold twenty questions' evidence, not a
    hundred's."""
    from r2_pipeline.reporting.stats import cluster_interval

    correct = np.tile(np.random.default_rng(7).random(20) < 0.6, 5)
    clusters = np.tile(np.arange(20), 5)
    low, high = cluster_interval(correct, clusters)
    naive_low, naive_high = cluster_interval(correct)
    assert low <= correct.mean() <= high
    assert high - low > 1.8 * (naive_high - naive_low)
    with pytest.raises(ValueError, match="at least one"):
        cluster_interval([])


def test_compare_methods_pairs_answers_by_question_and_seed():
    ids, seeds = ["a", "b", "a", "b"], [0, 0, 1, 1]
    table = results({"r2": ([True, False, True, True], [1.0, 1.0, 1.0, 1.0]),
                     "single:t2": ([True, True, False, True][::-1], [4.0, 4.0, 4.0, 4.0])},  # rows reversed
                    ids={"r2": ids, "single:t2": ids[::-1]}, seeds={"r2": seeds, "single:t2": seeds[::-1]})
    row = compare_methods(table, POOL, {**evaluation([["r2", "largest"]]), "cost_lambda": 0.5}).iloc[0]
    # by (id, seed): (b, 0) only the baseline right, (a, 1) only r2 right
    assert (row["n"], row["seeds"], row["method_better"], row["baseline_better"]) == (2, 2, 1, 1)
    assert row["cost_usd"] == 2.0 and row["baseline_cost_usd"] == 8.0  # totals per seed
    assert row["objective_diff"] == pytest.approx((0.75 - 0.5 * 0.25) - (0.75 - 0.5 * 1.0))


def test_compare_methods_leaves_the_objective_out_without_the_largest_method():
    table = results({"r2": ([True], [1.0]), "r2_sft": ([False], [1.0])})
    row = compare_methods(table, POOL, evaluation([["r2", "r2_sft"]])).iloc[0]
    assert row["accuracy_diff"] == 1 and math.isnan(row["objective_diff"])


@pytest.mark.parametrize(
    "seeds, ids, message",
    [([0, 1], ["a", "a"], r"ran different evaluation seeds \(\[0, 1\] and \[0, 2\]\)"),
     ([0, 0], ["a", "a"], r"r2: \(question id, seed\) pairs repeat")],
)
def test_compare_methods_refuses_answers_it_cannot_pair(seeds, ids, message):
    table = results({"r2": ([True, True], [1.0, 1.0]), "r2_sft": ([True, True], [1.0, 1.0])},
                    ids={"r2": ids, "r2_sft": ["a", "a"]}, seeds={"r2": seeds, "r2_sft": [0, 2]})
    with pytest.raises(ValueError, match=message):
        compare_methods(table, POOL, evaluation([["r2", "r2_sft"]]))


def test_aligned_answers_needs_the_seed_column():
    from r2_pipeline.reporting.stats import aligned_answers

    table = pd.DataFrame({"id": ["a"], "correct": [True]})
    with pytest.raises(ValueError, match=r"micro / r2: the rows have no \['seed'\] column"):
        aligned_answers(table, table, "micro", "r2", "r2_sft")
