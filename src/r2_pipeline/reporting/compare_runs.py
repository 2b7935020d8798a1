"""A command: the paired comparison of two methods that may come from different runs.

For example r2 after a lambda-0 run against r2 after a lambda-2 run, on the same test questions
and evaluation seeds, paired by (question id, seed).
Within one run the evaluation pipeline already writes these rows
(data/08_reporting/method_comparisons.csv); across runs, each run's per-question table is an
artifact of its MLflow evaluation run (the file in data/07_model_output is overwritten by the next
run):
    MLFLOW_TRACKING_URI=sqlite:///mlflow.db mlflow artifacts download --run-id <evaluation run> \
        --artifact-path evaluation_results.parquet --dst-path /tmp/run_a

Usage, from the project root:
    kedro run --pipelines rl_refinement,evaluation --params "rl_refinement.cost_lambda=0.0"
    cp data/07_model_output/evaluation_results.parquet /tmp/lambda0.parquet  # or download it later
    kedro run --pipelines rl_refinement,evaluation --params "rl_refinement.cost_lambda=2.0"
    python -m r2_pipeline.reporting.compare_runs r2 r2 \
        --results data/07_model_output/evaluation_results.parquet --baseline-results /tmp/lambda0.parquet
"""

from __future__ import annotations

import argparse

import pandas as pd

from ..arguments import confidence, count
from .stats import aligned_answers, paired_comparison

RESULTS = "data/07_model_output/evaluation_results.parquet"


def compare(method: str, baseline: str, results: pd.DataFrame, baseline_results: pd.DataFrame,
            confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per benchmark that both tables ran the named method on. A table without a `seed`
    column holds one evaluation, under seed 0."""
    results, baseline_results = _seeded(results), _seeded(baseline_results)
    rows = []
    for benchmark in results["benchmark"].unique():
        a = results[(results["benchmark"] == benchmark) & (results["method"] == method)]
        b = baseline_results[(baseline_results["benchmark"] == benchmark) & (baseline_results["method"] == baseline)]
        if a.empty or b.empty:
            continue
        try:
            a, b = aligned_answers(a, b, benchmark, method, f"{baseline} (baseline)")
        except ValueError as error:
            raise SystemExit(str(error)) from None
        stats = paired_comparison(a["correct"], b["correct"], a["cost_usd"], b["cost_usd"], confidence, resamples, seed,
                                  clusters=a.index.get_level_values("id"))
        rows.append({"benchmark": benchmark, **stats.as_dict()})
    if not rows:
        raise SystemExit(f"no benchmark has both {method!r} in --results and {baseline!r} in --baseline-results")
    return pd.DataFrame(rows)


def _seeded(results: pd.DataFrame) -> pd.DataFrame:
    return results if "seed" in results.columns else results.assign(seed=0)


def read_results(parser: argparse.ArgumentParser, path: str, option: str) -> pd.DataFrame:
    """A per-question table (evaluation_results.parquet), or the parser's error naming the option."""
    try:
        table = pd.read_parquet(path)
    except FileNotFoundError:
        parser.error(f"{option} {path}: no such file; the evaluation pipeline writes {RESULTS}, and each MLflow "
                     "evaluation run keeps it as an artifact (see --help)")
    except Exception as error:  # noqa: BLE001  (pyarrow raises several kinds for a file that is not a table)
        parser.error(f"{option} {path}: not a per-question table ({type(error).__name__}: {error})")
    missing = sorted({"benchmark", "method", "id", "correct", "cost_usd"} - set(table.columns))
    if missing:
        parser.error(f"{option} {path}: not a per-question table of the evaluation, it lacks the columns {missing}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method")
    parser.add_argument("baseline")
    parser.add_argument("--results", default=RESULTS, help="the method's per-question table")
    parser.add_argument("--baseline-results", default=None, help="the baseline's (default: --results)")
    parser.add_argument("--confidence", type=confidence, default=0.95, help="in (0, 1), e.g. 0.95")
    parser.add_argument("--resamples", type=count, default=2000)
    args = parser.parse_args()
    results = read_results(parser, args.results, "--results")
    baseline_results = read_results(parser, args.baseline_results, "--baseline-results") if args.baseline_results \
        else results
    table = compare(args.method, args.baseline, results, baseline_results, args.confidence, args.resamples)
    columns = ["benchmark", "n", "seeds", "accuracy", "baseline_accuracy", "accuracy_diff", "accuracy_diff_low",
               "accuracy_diff_high", "method_better", "baseline_better", "mcnemar_p", "cost_ratio",
               "cost_ratio_low", "cost_ratio_high", "beats"]
    heading = (f"{args.method} ({args.results}) against {args.baseline} ({args.baseline_results or args.results}), "
               f"{args.confidence:.0%} intervals from {args.resamples} paired resamples")
    print(heading, table[columns].to_string(index=False, float_format=lambda x: f"{x:.4g}"), sep="\n")  # noqa: T201 (a command)


if __name__ == "__main__":
    main()
