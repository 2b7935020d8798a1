"""Evaluation seeds: each method runs once per `evaluation.seeds` entry, metrics are means over the
(question, seed) rows with intervals from a bootstrap over questions, comparisons pair by (question,
seed), and the objective weighs accuracy against cost relative to the largest method."""

from __future__ import annotations

import copy
import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from r2_pipeline.params import ParameterError, validate_params
from r2_pipeline.pipelines.evaluation import nodes
from r2_pipeline.pipelines.evaluation.params import EvaluationParams
from r2_pipeline.pipelines.evaluation.pipeline import create_pipeline
from r2_pipeline.pool.base import Completion
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.reporting.stats import wilson_interval
from r2_pipeline.tasks import micro

CONF = Path(__file__).parents[3] / "conf"
WORLD = {"seed": 3, "sizes": {"train": 1, "validation": 1, "test": 8}, "min_steps": 1, "max_steps": 2,
         "bucket_weights": [1, 1, 0, 0, 0]}
PRICES = {f"t{k}": {"input_per_m": 10 ** (k - 3), "output_per_m": 10 ** (k - 3), "date": "d", "source": "s"}
          for k in range(1, 6)}
POOL = {"members": {m: {"backend": "transformers"} for m in PRICES}, "prices": PRICES, "price_table": "test"}


def evaluation_block(profile: str) -> dict:
    return yaml.safe_load((CONF / profile / "parameters_evaluation.yml").read_text())["evaluation"]


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("profile, seeds", [("base", [0, 1, 2]), ("test", [0]), ("paper", [0, 1, 2])])
def test_every_profile_sets_its_seeds_and_cost_lambda(profile, seeds):
    block = EvaluationParams.model_validate(evaluation_block(profile))
    assert block.seeds == seeds and block.cost_lambda == 0.5


def test_seeds_default_to_three():
    block = {k: v for k, v in evaluation_block("base").items() if k not in {"seeds", "cost_lambda"}}
    assert EvaluationParams.model_validate(block).seeds == [0, 1, 2]


def base_params() -> dict:
    params = {}
    for path in (CONF / "base").glob("parameters_*.yml"):
        params.update(yaml.safe_load(path.read_text()))
    params["pool"]["cache_path"] = "data/cache/calls.sqlite"  # the ${globals:} resolver is Kedro's
    return params


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"seed": 0}, r"parameter evaluation: `seed` is not a parameter: evaluation\.seeds lists the evaluation "
                      r"seeds, each method runs once per seed \(write `seeds: \[0\]` for one run\)"),
        ({"seeds": []}, r"evaluation\.seeds = \[\]"),
        ({"seeds": [0, 1, 0]}, r"evaluation\.seeds = \[0, 1, 0\]: seeds \[0\] are listed twice"),
        ({"seeds": ["0"]}, r"evaluation\.seeds\.0 = '0'"),
        ({"cost_lambda": -1}, r"evaluation\.cost_lambda = -1"),
    ],
)
def test_bad_seeds_and_cost_lambda_are_refused(edit, message):
    params = copy.deepcopy(base_params())
    params["evaluation"].update(edit)
    with pytest.raises(ParameterError, match=message):
        validate_params(params)


def test_the_nodes_refuse_a_seed_key():
    with pytest.raises(ValueError, match=r"`seed` is not a parameter: evaluation\.seeds"):
        nodes.evaluation_seeds({"seed": 1, "methods": ["single"]})
    assert nodes.evaluation_seeds({"methods": ["single"]}) == [0, 1, 2]


# ---------------------------------------------------------------- the nodes on a sampled member


class Kept(MemoryDataset):
    """A memory dataset the runner does not empty once its readers have run."""

    def _release(self) -> None:
        pass


class Sampled:
    """A micro member that answers bucket-1 steps right, and a harder step right under about half of
    the seeds: its answer depends on the prompt and the seed only."""

    fingerprint = "sampled"
    temperature = 1.0  # it samples whatever it is asked, so every seed is its own call

    def generate(self, prompts, sampling):
        return [Completion(self._answer(p, sampling.seed), len(p), 4) for p in prompts]

    @staticmethod
    def _answer(prompt: str, seed: int) -> str:
        step = micro.parse_expression(f"{int(prompt[:3])} {prompt[3]} {int(prompt[4:7])}")
        lucky = hashlib.sha256(f"{prompt}|{seed}".encode()).digest()[0] % 2 == 0
        return micro.member_answer(step) if step.bucket <= 1 or lucky else "000"


@pytest.fixture
def evaluated(ladder_pool, monkeypatch):
    """evaluate_methods, summarize and compare_methods with `single` on every member under three
    seeds; t1 samples, the others are greedy. Also the (sampling seed, context seed) of each run."""
    from r2_pipeline.pipelines.data_generation.nodes import generate_world

    pool = ModelPool({**ladder_pool.backends, "t1": Sampled()}, ladder_pool.prices)
    monkeypatch.setattr(nodes, "pool_from_params", lambda manifest, params: pool)
    runs = []

    def run_method(method, built, task, examples, sampling, context):
        runs.append((method.label, sampling.seed, context.seed))
        return real_run_method(method, built, task, examples, sampling, context)

    real_run_method = nodes.run_method
    monkeypatch.setattr(nodes, "run_method", run_method)
    evaluation = {"benchmarks": {"micro": {}}, "experiment": "unused", "sampling": {"max_new_tokens": 4},
                  "methods": ["single"], "seeds": [0, 1, 2], "cost_lambda": 0.5,
                  "comparisons": {"pairs": [["single:t1", "largest"], ["single:t1", "single:t2"]], "resamples": 200}}
    inputs = {"world_test": generate_world({"world": WORLD})[2], "pool_manifest": {}, "params:pool": POOL,
              "params:evaluation": evaluation, "member_outcomes": None, "params:data_generation": {}}
    outputs = ["evaluation_results", "evaluation_steps", "metrics", "method_comparisons"]
    catalog = DataCatalog({**{name: MemoryDataset(data) for name, data in inputs.items()},
                           **{name: Kept() for name in outputs}})
    pipeline = create_pipeline(routers={}).only_nodes("evaluate_methods_node", "summarize_node",
                                                      "compare_methods_node")
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in outputs}, runs


def test_each_method_runs_once_per_seed_with_that_seed(evaluated):
    out, runs = evaluated
    assert runs == [(f"single:t{k}", seed, seed) for k in range(1, 6) for seed in (0, 1, 2)]
    results, steps = out["evaluation_results"], out["evaluation_steps"]
    assert (results.groupby(["method", "id"])["seed"].apply(sorted) == pd.Series([[0, 1, 2]] * 40).values).all()
    assert set(steps["seed"]) == {0, 1, 2} and len(steps) == 3 * len(steps[steps["seed"] == 0])
    correct = results.pivot_table(index=["method", "id"], columns="seed", values="correct")
    greedy, sampled = correct.loc["single:t5"], correct.loc["single:t1"]
    assert (greedy.nunique(axis=1) == 1).all()  # a greedy member answers alike under every seed
    assert (sampled.nunique(axis=1) > 1).any()  # a sampled one does not


def test_metrics_are_means_over_question_and_seed_rows(evaluated):
    out, _ = evaluated
    rows = out["evaluation_results"].query("method == 'single:t1'")
    metrics = out["metrics"]["micro"]
    t1, t5 = metrics["single:t1"], metrics["single:t5"]
    per_seed = rows.groupby("seed")["correct"].mean()
    assert (t1["n"], t1["seeds"]) == (8, 3)
    assert t1["accuracy"] == pytest.approx(rows["correct"].mean())
    assert t1["accuracy_seed_sd"] == pytest.approx(per_seed.std(ddof=1)) and t1["accuracy_seed_sd"] > 0
    assert t5["accuracy_seed_sd"] == 0.0
    assert t1["cost_usd"] == pytest.approx(rows["cost_usd"].sum() / 3)
    assert t1["prompt_tokens"] == pytest.approx(rows["prompt_tokens"].sum() / 3)
    assert t1["accuracy_ci95_low"] <= t1["accuracy"] <= t1["accuracy_ci95_high"]
    assert t5["cost_vs_largest"] == 1.0 and t5["objective"] == pytest.approx(t5["accuracy"] - 0.5)
    assert t1["objective"] == pytest.approx(t1["accuracy"] - 0.5 * t1["cost_vs_largest"])
    assert t1["objective_ci95_low"] <= t1["objective"] <= t1["objective_ci95_high"]
    assert all(math.isfinite(v) for values in metrics.values() for v in values.values())


def test_comparisons_pair_by_question_and_seed(evaluated):
    out, _ = evaluated
    metrics, table = out["metrics"]["micro"], out["method_comparisons"]
    row = table.set_index("baseline").loc["single:t5"]
    assert (row["n"], row["seeds"]) == (8, 3)
    assert row["objective_diff"] == pytest.approx(metrics["single:t1"]["objective"] - metrics["single:t5"]["objective"])
    assert row["objective_diff_low"] <= row["objective_diff"] <= row["objective_diff_high"]
    assert row["cost_usd"] == pytest.approx(metrics["single:t1"]["cost_usd"])
    # questions counted once, whatever their seeds: t5 is right on all 24 rows, t1 wrong on some
    results = out["evaluation_results"]
    t1_wrong = results[(results["method"] == "single:t1") & (results["correct"] < 1)]["id"].nunique()
    assert row["baseline_better"] == t1_wrong > 0
    assert row["method_better"] == 0


# ---------------------------------------------------------------- summarize on hand-made rows


def rows(method: str, correct: list[list[bool]], cost: float = 1.0) -> list[dict]:
    """`correct[s][q]`: question q under seed s."""
    return [{"benchmark": "micro", "method": method, "id": f"q{q}", "seed": seed, "correct": right,
             "cost_usd": cost, "prompt_tokens": 10, "completion_tokens": 2, "router_cost_usd": 0.0,
             "estimated_token_steps": 0, "rechecked_steps": 0, "invalid_allocations": seed, "method_seconds": 1.0}
            for seed, answers in enumerate(correct) for q, right in enumerate(answers)]


def summarize(table: list[dict], methods=("single",), **evaluation) -> dict:
    spec = {"benchmarks": {"micro": {}}, "methods": list(methods), **evaluation}
    return nodes.summarize(pd.DataFrame(table), {"members": {"t1": {}, "t2": {}}, "prices": PRICES}, spec)["micro"]


def test_one_seed_keeps_wilsons_interval():
    answers = [[True] * 17 + [False] * 3]
    metrics = summarize(rows("single:t2", answers, 2.0) + rows("single:t1", answers))
    t1 = metrics["single:t1"]
    assert (t1["accuracy_ci95_low"], t1["accuracy_ci95_high"]) == wilson_interval(17, 20)
    assert (t1["seeds"], t1["accuracy_seed_sd"], t1["invalid_allocations"]) == (1, 0.0, 0.0)
    assert t1["objective"] == pytest.approx(0.85 - 0.5 * 0.5)  # the default cost_lambda


def test_several_seeds_draw_questions_with_all_their_rows():
    """Ten questions answered alike under four seeds: as wide as ten questions' bootstrap, far wider
    than Wilson's on forty answers."""
    answers = [[True] * 6 + [False] * 4] * 4
    t2 = summarize(rows("single:t2", answers), comparisons={"resamples": 500})["single:t2"]
    low, high = t2["accuracy_ci95_low"], t2["accuracy_ci95_high"]
    wilson_low, wilson_high = wilson_interval(24, 40)
    assert low <= 0.6 <= high and high - low > 1.5 * (wilson_high - wilson_low) / 2 ** 0.5
    assert (t2["seeds"], t2["n"], t2["invalid_allocations"]) == (4, 10, 1.5)  # invalid: the mean over runs
    assert t2["cost_usd"] == 10.0 and t2["prompt_tokens"] == 100.0  # totals per seed


def test_the_objective_weighs_cost_by_cost_lambda():
    table = rows("single:t2", [[True, True]], 4.0) + rows("single:t1", [[True, False]], 1.0)
    t1 = summarize(table, cost_lambda=2.0)["single:t1"]
    assert t1["objective"] == pytest.approx(0.5 - 2.0 * 0.25) and t1["cost_lambda"] == 2.0


@pytest.mark.parametrize("largest_cost", [None, 0.0])
def test_without_a_priced_largest_method_there_is_no_objective(largest_cost):
    """No `single` on the dearest member (or a free one): nothing to measure cost against, so
    `cost_vs_largest` and the objective are left out rather than NaN."""
    table = rows("single:t1", [[True, False]])
    if largest_cost is not None:
        table += rows("single:t2", [[True, True]], largest_cost)
    metrics = summarize(table)
    for values in metrics.values():
        assert not {"cost_vs_largest", "objective", "objective_ci95_low", "cost_lambda"} & set(values)
        assert all(math.isfinite(v) for v in values.values())


def test_graded_scores_under_several_seeds():
    table = pd.DataFrame(rows("single:t2", [[True, False]] * 2)).assign(correct=[0.5, 0.25, 1.0, 0.75])
    t2 = summarize(table.to_dict("records"))["single:t2"]
    assert t2["accuracy"] == pytest.approx(0.625)
    assert t2["accuracy_seed_sd"] == pytest.approx(np.std([0.375, 0.875], ddof=1))


def test_rows_without_a_seed_are_refused():
    table = pd.DataFrame(rows("single:t2", [[True]])).drop(columns="seed")
    with pytest.raises(ValueError, match="no `seed` column"):
        summarize(table.to_dict("records"))


def test_the_headroom_table_pairs_each_lambda_with_its_oracle_and_router():
    from r2_pipeline.pipelines.evaluation.nodes import headroom_table

    def rows(method, correct, cost):
        return [{"benchmark": "micro", "method": method, "id": f"q{i}", "seed": s, "correct": c, "cost_usd": cost}
                for i, c in enumerate(correct) for s in (0, 1)]

    prices = {f"t{k}": {"input_per_m": k, "output_per_m": k, "date": "d", "source": "s"} for k in (1, 5)}
    pool = {"members": {m: {"backend": "transformers"} for m in prices}, "prices": prices, "price_table": "t"}
    evaluation = {"benchmarks": {"micro": {}}, "experiment": "x", "router": {"min_success": 0.93},
                  "methods": ["single", "label_policy", "expected_oracle", "r2_sft", "r2",
                              {"name": "expected_oracle@lambda=1", "kind": "expected_oracle", "cost_lambda": 1.0},
                              {"name": "r2@lambda=1", "kind": "r2", "router": "r2_sweep_2"},
                              {"name": "expected_oracle@bucket", "kind": "expected_oracle", "knows": "bucket"}],
                  "cost_lambda": 0.5}
    results = pd.DataFrame(rows("single:t5", [1, 1], 10.0) + rows("single:t1", [0, 1], 1.0)
                           + rows("label_policy", [0, 1], 1.0) + rows("expected_oracle", [1, 1], 2.0)
                           + rows("expected_oracle@lambda=1", [1, 1], 2.0) + rows("r2_sft", [0, 1], 1.0)
                           + rows("r2", [1, 1], 2.0) + rows("r2@lambda=1", [1, 0], 1.0)
                           + rows("expected_oracle@bucket", [0, 1], 2.0))
    table = headroom_table(results, pool, evaluation, {"cost_lambda": 0.5, "lambda_sweep": [0.2, 1.0]},
                           routers=["r2_sft", "r2_sweep_1", "r2_sweep_2", "r2"])
    assert list(table["cost_lambda"]) == [0.5, 1.0]  # 0.2's oracle and router were not evaluated
    assert list(table["router"]) == ["r2", "r2@lambda=1"]
    assert list(table["oracle"]) == ["expected_oracle", "expected_oracle@lambda=1"]  # never the bucket one
    assert table["bucket_oracle"].iloc[0] == "expected_oracle@bucket" and pd.isna(table["bucket_oracle"].iloc[1])
    assert table["room"].iloc[0] == pytest.approx(0.5 - 0.5 * 0.1)
