"""Nodes of `evaluation` (and `evaluation_baselines`): run each method on the test split, summarise,
compare, plot, log to MLflow. The methods are methods/, the statistics, plot and MLflow runs reporting/."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd

from ...baselines.query_router import KNNQueryRouter
from ...methods import (
    Method,
    alone,
    benchmark_methods,
    evaluate,
    planned_methods,
    resolve_comparisons,
)
from ...pool.base import sampling_from
from ...pool.factory import ladder_order, pool_from_params
from ...reasoning.context import MethodContext
from ...reporting import plots
from ...reporting.mlflow_runs import log_method_runs
from ...reporting.stats import PairedComparison, aligned_answers, paired_comparison, score_interval
from ...tasks.base import get_task
from ...training.ladder import numerics
from ..rl_refinement import trained_routers

logger = logging.getLogger(__name__)


def evaluate_methods(test_split: pd.DataFrame, pool_manifest: dict, pool: dict, evaluation: dict,
                     member_outcomes: pd.DataFrame | None = None, *router_folders: str,
                     routers: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method on every test question: a per-question table and a per-step table.
    `router_folders` are (decomposer, allocator) pairs, one per name in `routers` (the pipeline
    binds them; default rl_refinement's trained_routers)."""
    routers = _routers(routers)
    if len(router_folders) != 2 * len(routers):
        raise ValueError(f"routers {routers} need {2 * len(routers)} folders, got {len(router_folders)}")
    built = pool_from_params(pool_manifest, pool)
    context = method_context(pool, evaluation, built, member_outcomes,
                             dict(zip(routers, zip(router_folders[::2], router_folders[1::2]))))
    results, steps = [], []
    for benchmark in evaluation["benchmarks"]:
        task, examples, sampling = load_benchmark(benchmark, evaluation, test_split)
        for method in benchmark_methods(evaluation, benchmark, built.members, routers):
            rows, calls = evaluate(benchmark, method, built, task, examples, sampling, context)
            results += rows
            steps += calls
            logger.info("%s / %s: accuracy %.3f", benchmark, method.label, pd.DataFrame(rows)["correct"].mean())
    if built.cache is not None:
        logger.info("call cache: %s", built.cache.stats())
    return pd.DataFrame(results), pd.DataFrame(steps)


def load_benchmark(benchmark: str, evaluation: dict, test_split: pd.DataFrame | None):
    """The task, its test examples and its sampling: the micro world's test split comes from
    data_generation, other benchmarks load themselves."""
    spec, task = evaluation["benchmarks"][benchmark] or {}, get_task(benchmark)
    micro_table = benchmark == "micro" and test_split is not None
    if micro_table and spec.get("source"):
        logger.warning("evaluation reads data_generation's micro test split; evaluation.benchmarks.micro.source "
                       "(%s) is read only by evaluation_baselines", spec["source"])
    examples = task.load(test_split if micro_table else spec.get("source"), split=spec.get("split", "test"),
                         limit=spec.get("limit"))
    return task, examples, sampling_from({**(evaluation.get("sampling") or {}), **(spec.get("sampling") or {})})


def evaluate_baselines(pool_manifest: dict, pool: dict, evaluation: dict,
                       routers: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The configured methods that need no trained router and no outcome table (`single`), on every
    benchmark that lists one. The others are skipped with a warning, so one `evaluation` block serves
    both pipelines."""
    members, routers = list((pool or {}).get("members", {})), _routers(routers)
    planned = {name: benchmark_methods(evaluation, name, members, routers) for name in evaluation["benchmarks"]}
    benchmarks = {name: {**(evaluation["benchmarks"][name] or {}), "methods": kept} for name, methods in planned.items()
                  if (kept := [m for m in methods if m.runs_before_training])}
    if not benchmarks:
        raise ValueError("no benchmark lists a method that runs before training (`single`) in evaluation.methods or "
                         "its own `methods`; the other methods need trained routers: run `evaluation`")
    skipped = sorted({m.label for methods in planned.values() for m in methods if not m.runs_before_training})
    if skipped:
        logger.warning("evaluation_baselines skips %s: they need trained routers (pipeline `evaluation`)", skipped)
    return evaluate_methods(None, pool_manifest, pool, {**evaluation, "benchmarks": benchmarks}, None, routers=[])


def method_context(pool: dict, evaluation: dict, built, member_outcomes, routers) -> MethodContext:
    """What the methods need besides the pool; `routers`: name -> (decomposer folder, allocator folder),
    the final router last."""
    routers, router, ladder = dict(routers), evaluation.get("router") or {}, ladder_order(pool)
    context = MethodContext(
        routers={name: (_local(decomposer), _local(allocator)) for name, (decomposer, allocator) in routers.items()},
        router_price=pool["prices"][pool["router_member"]] if pool.get("router_member") else None,
        final_router=list(routers)[-1] if routers else "",
        router_sampling=sampling_from(router.get("sampling"), max_new_tokens=64),
        allocator_sampling=sampling_from(router.get("allocator_sampling"), max_new_tokens=4),
        ladder=ladder, fallback=router.get("fallback") or ladder[-1],
        recheck_alpha=router.get("recheck_alpha", 0.0), seed=evaluation.get("seed", 0), cache=built.cache,
    )
    planned = planned_methods(evaluation, list(pool["members"]), list(routers) or _routers(None))
    if member_outcomes is not None and any(m.uses_outcomes for m in planned):
        context.query_router = KNNQueryRouter(ladder, **evaluation.get("query_router", {})).fit(
            list(member_outcomes["question"]), member_outcomes[ladder].to_numpy())
    return context


def _local(path: str):
    from ...pool.local import trained_router

    return trained_router(path)


def _routers(routers: Sequence[str] | None) -> list[str]:
    return list(trained_routers()) if routers is None else list(routers)


def _planned(evaluation: dict, pool: dict, routers: Sequence[str] | None = None) -> list[Method]:
    return planned_methods(evaluation, list(pool["members"]), _routers(routers))


def summarize(results: pd.DataFrame, pool: dict, evaluation: dict, routers: Sequence[str] | None = None) -> dict:
    """benchmark -> method -> metrics, with cost relative to the dearest pool member's single run."""
    metrics: dict[str, dict[str, dict]] = {}
    for (benchmark, method), group in results.groupby(["benchmark", "method"], sort=False):
        metrics.setdefault(benchmark, {})[method] = method_metrics(group)
        if metrics[benchmark][method]["estimated_token_steps"]:
            logger.warning("%s / %s: %d steps' token counts are estimates (the server sent no usage)",
                           benchmark, method, metrics[benchmark][method]["estimated_token_steps"])
    largest = alone(_planned(evaluation, pool, routers), dearest_member(pool))
    for methods in metrics.values():
        if largest in methods and methods[largest]["cost_usd"] > 0:
            for values in methods.values():
                values["cost_vs_largest"] = values["cost_usd"] / methods[largest]["cost_usd"]
    return metrics


def method_metrics(group: pd.DataFrame) -> dict:
    """One method's rows on one benchmark, summed or averaged."""
    low, high = score_interval(group["correct"])
    return {
        "accuracy": float(group["correct"].mean()),
        "accuracy_ci95_low": low,
        "accuracy_ci95_high": high,
        "cost_usd": float(group["cost_usd"].sum()),
        "prompt_tokens": int(group["prompt_tokens"].sum()),
        "completion_tokens": int(group["completion_tokens"].sum()),
        "router_cost_usd": float(group["router_cost_usd"].sum()),
        "n": int(len(group)),
        "invalid_allocations": int(group["invalid_allocations"].iloc[0]),
        "seconds": float(group["method_seconds"].iloc[0]),
        # steps whose token counts (and so cost) the backend estimated: the server sent no usage
        "estimated_token_steps": int(group["estimated_token_steps"].sum()),
        "rechecked_steps": int(group["rechecked_steps"].sum()),
    }


def compare_methods(results: pd.DataFrame, pool: dict, evaluation: dict,
                    routers: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per benchmark and `evaluation.comparisons` pair: the two methods on the same
    questions, with a paired bootstrap interval of the accuracy difference and of the cost ratio,
    and McNemar's exact test. A pair a benchmark does not run is left out of that benchmark."""
    spec = evaluation.get("comparisons") or {}
    pairs = resolve_comparisons(spec.get("pairs", []), _planned(evaluation, pool, routers), dearest_member(pool))
    rows = []
    for benchmark, group in results.groupby("benchmark", sort=False):
        by_method = {method: table.set_index("id") for method, table in group.groupby("method", sort=False)}
        for method, baseline in pairs:
            if method not in by_method or baseline not in by_method:
                logger.info("%s does not run both %s and %s: pair left out", benchmark, method, baseline)
                continue
            a, b = aligned_answers(by_method[method], by_method[baseline], benchmark, method, baseline)
            stats = paired_comparison(a["correct"], b["correct"], a["cost_usd"], b["cost_usd"],
                                      confidence=spec.get("confidence", 0.95),
                                      resamples=spec.get("resamples", 2000), seed=spec.get("seed", 0))
            rows.append({"benchmark": benchmark, "method": method, "baseline": baseline, **stats.as_dict()})
    return pd.DataFrame(rows, columns=["benchmark", "method", "baseline", *PairedComparison.columns()])


def dearest_member(pool: dict) -> str:
    return ladder_order(pool)[-1]


def plot_accuracy_cost(metrics: dict, evaluation: dict, pool: dict, routers: Sequence[str] | None = None):
    """The accuracy-cost plot, each router read at several thresholds drawn as one line."""
    return plots.plot_accuracy_cost(metrics, {m.label: m.family() for m in _planned(evaluation, pool, routers)})


def log_runs(metrics: dict, evaluation: dict, pool: dict, pipeline: str = "evaluation",
             routers: Sequence[str] | None = None) -> dict:
    """One MLflow run per benchmark and method, tagged with how the method read its router, the
    torch build and the CPU capability (`training.ladder.numerics`); each run gets the plot too
    (redrawn: a saved figure cannot be loaded back as a dataset)."""
    tags = {m.label: m.tags(evaluation) for m in _planned(evaluation, pool, routers)}
    figure = plot_accuracy_cost(metrics, evaluation, pool, routers)
    try:
        return log_method_runs(metrics, evaluation["experiment"], figure, tags={"pipeline": pipeline, **numerics()},
                               method_tags=lambda method: tags.get(method, {}))
    finally:
        plots.close(figure)


def log_baseline_runs(metrics: dict, evaluation: dict, pool: dict) -> dict:
    """As `log_runs`, tagged `pipeline: evaluation_baselines` so the UI tells the two apart."""
    return log_runs(metrics, evaluation, pool, pipeline="evaluation_baselines")
