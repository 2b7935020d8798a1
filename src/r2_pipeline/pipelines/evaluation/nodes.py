"""Nodes of `evaluation` (and `evaluation_baselines`): run each method on the test split once per
evaluation seed, summarise, compare, plot, log to MLflow, and package the final router as a model.
The methods are methods/, the metrics, statistics, plot and MLflow runs reporting/, the model serving/."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

import pandas as pd

from ...baselines.query_router import KNNQueryRouter
from ...methods import (
    Method,
    MethodResult,
    alone,
    benchmark_methods,
    expand_methods,
    planned_methods,
    resolve_comparisons,
    result_rows,
    run_method,
    step_rows,
)
from ...methods.parallel import held_models, run_in_order
from ...paths import project_root
from ...pool.base import SamplingParams, sampling_from
from ...pool.factory import ladder_order, pool_from_params
from ...reasoning.context import MethodContext
from ...reporting import plots
from ...reporting.headroom import headroom
from ...reporting.metrics import benchmark_metrics, largest_unit_cost
from ...reporting.mlflow_runs import log_method_runs
from ...reporting.stats import Bootstrap, PairedComparison, aligned_answers, paired_comparison
from ...serving.model import router_config
from ...serving.registry import RouterPackage
from ...tasks.base import get_task
from ...training.numerics import numerics
from ..rl_refinement import trained_routers
from .params import (
    DEFAULT_COST_LAMBDA,
    DEFAULT_MAX_PARALLEL_METHODS,
    DEFAULT_SEEDS,
    ROUTER_NEW_TOKENS,
    seed_key_message,
)

logger = logging.getLogger(__name__)


def evaluate_methods(test_split: pd.DataFrame, pool_manifest: dict, pool: dict, evaluation: dict,
                     member_outcomes: pd.DataFrame | None = None, data_generation: dict | None = None,
                     *router_folders: str, routers: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method on every test question under every evaluation seed: a per-(question, seed) table
    and a per-step table. `router_folders` are (decomposer, allocator) pairs, one per name in
    `routers` (the pipeline binds them; default rl_refinement's trained_routers).
    `data_generation` is what `label_policy` replays. Runs on endpoint members alone go up to
    `evaluation.max_parallel_methods` at once where they share no member (methods/parallel.py); the
    tables are those of running every method in turn, in the same row order."""
    routers, seeds = _routers(routers), evaluation_seeds(evaluation)
    if len(router_folders) != 2 * len(routers):
        raise ValueError(f"routers {routers} need {2 * len(routers)} folders, got {len(router_folders)}")
    built = pool_from_params(pool_manifest, pool)
    context = method_context(pool, evaluation, built, member_outcomes,
                             dict(zip(routers, zip(router_folders[::2], router_folders[1::2]))))
    context.data_generation = data_generation
    planned = [(benchmark, method, task, examples, replace(sampling, seed=seed))
               for benchmark in evaluation["benchmarks"]
               for task, examples, sampling in [load_benchmark(benchmark, evaluation, test_split)]
               for method in benchmark_methods(evaluation, benchmark, built.members, routers)
               for seed in seeds]
    results, steps = [], []

    def tables(i: int, result: MethodResult) -> None:  # in the calling thread, in the planned order
        benchmark, method, task, examples, sampling = planned[i]
        rows = result_rows(benchmark, result, task, examples, sampling.seed)
        results.extend(rows)
        steps.extend(step_rows(result, examples, sampling.seed))
        logger.info("%s / %s / seed %d: accuracy %.3f", benchmark, method.label, sampling.seed,
                    pd.DataFrame(rows)["correct"].mean())

    run_in_order([partial(run_method, method, built, task, examples, sampling, replace(context, seed=sampling.seed))
                  for _, method, task, examples, sampling in planned],
                 [held_models(method, built) for _, method, *_ in planned],
                 evaluation.get("max_parallel_methods", DEFAULT_MAX_PARALLEL_METHODS), tables)
    if built.cache is not None:
        logger.info("call cache: %s", built.cache.stats())
    return pd.DataFrame(results), pd.DataFrame(steps)


def evaluation_seeds(evaluation: dict) -> list[int]:
    """The seeds every method runs under (`evaluation.seeds`)."""
    if "seed" in evaluation:
        raise ValueError(f"parameter evaluation: {seed_key_message(evaluation['seed'])}")
    return list(evaluation.get("seeds") or DEFAULT_SEEDS)


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
    return task, examples, benchmark_sampling(benchmark, evaluation)


def benchmark_sampling(benchmark: str, evaluation: dict) -> SamplingParams:
    """How the members answer a benchmark's steps: `evaluation.sampling` under the benchmark's own."""
    spec = evaluation["benchmarks"][benchmark] or {}
    return sampling_from({**(evaluation.get("sampling") or {}), **(spec.get("sampling") or {})})


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
    return evaluate_methods(None, pool_manifest, pool, {**evaluation, "benchmarks": benchmarks}, None, None, routers=[])


def method_context(pool: dict, evaluation: dict, built, member_outcomes, routers) -> MethodContext:
    """What the methods need besides the pool; `routers`: name -> (decomposer folder, allocator folder),
    the final router last."""
    routers, router, ladder = dict(routers), evaluation.get("router") or {}, ladder_order(pool)
    context = MethodContext(
        routers={name: (_local(decomposer), _local(allocator)) for name, (decomposer, allocator) in routers.items()},
        router_price=pool["prices"][pool["router_member"]] if pool.get("router_member") else None,
        final_router=list(routers)[-1] if routers else "",
        router_sampling=sampling_from(router.get("sampling"), max_new_tokens=ROUTER_NEW_TOKENS["sampling"]),
        allocator_sampling=sampling_from(router.get("allocator_sampling"),
                                         max_new_tokens=ROUTER_NEW_TOKENS["allocator_sampling"]),
        ladder=ladder, fallback=router.get("fallback") or ladder[-1],
        recheck_alpha=router.get("recheck_alpha", 0.0), seed=evaluation_seeds(evaluation)[0], cache=built.cache,
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
    """benchmark -> method -> metrics (reporting/metrics.py), costs relative to the dearest pool
    member's single run, and the objective at `evaluation.cost_lambda`."""
    largest = alone(_planned(evaluation, pool, routers), dearest_member(pool))
    bootstrap = Bootstrap.from_block(evaluation.get("comparisons"))
    metrics = {benchmark: benchmark_metrics(table, largest, _cost_lambda(evaluation), bootstrap)
               for benchmark, table in results.groupby("benchmark", sort=False)}
    for benchmark, methods in metrics.items():
        for method, values in methods.items():
            if values["estimated_token_steps"]:
                logger.warning("%s / %s: %g steps per seed have estimated token counts (the server sent no usage)",
                               benchmark, method, values["estimated_token_steps"])
    return metrics


def compare_methods(results: pd.DataFrame, pool: dict, evaluation: dict,
                    routers: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per benchmark and `evaluation.comparisons` pair: the two methods on the same
    (question, seed) pairs, with paired bootstrap intervals over questions of the accuracy
    difference, the cost ratio and the objective difference, and McNemar's exact test. A pair a
    benchmark does not run is left out of that benchmark."""
    planned = _planned(evaluation, pool, routers)
    spec = evaluation.get("comparisons") or {}
    pairs = resolve_comparisons(spec.get("pairs", []), planned, dearest_member(pool))
    largest = alone(planned, dearest_member(pool))
    rows = [row for benchmark, group in results.groupby("benchmark", sort=False)
            for row in benchmark_comparisons(benchmark, group, pairs, largest, evaluation)]
    return pd.DataFrame(rows, columns=["benchmark", "method", "baseline", *PairedComparison.columns()])


def benchmark_comparisons(benchmark: str, group: pd.DataFrame, pairs: list[tuple[str, str]],
                          largest: str | None, evaluation: dict) -> list[dict]:
    """The rows of `compare_methods` for one benchmark."""
    by_method = dict(tuple(group.groupby("method", sort=False)))
    bootstrap = Bootstrap.from_block(evaluation.get("comparisons"))
    unit, rows = largest_unit_cost(group, largest), []
    for method, baseline in pairs:
        if method not in by_method or baseline not in by_method:
            logger.info("%s does not run both %s and %s: pair left out", benchmark, method, baseline)
            continue
        a, b = aligned_answers(by_method[method], by_method[baseline], benchmark, method, baseline)
        stats = paired_comparison(a["correct"], b["correct"], a["cost_usd"], b["cost_usd"], bootstrap.confidence,
                                  bootstrap.resamples, bootstrap.seed, clusters=a.index.get_level_values("id"),
                                  cost_lambda=_cost_lambda(evaluation), largest_cost=unit)
        rows.append({"benchmark": benchmark, "method": method, "baseline": baseline, **stats.as_dict()})
    return rows


def _cost_lambda(evaluation: dict) -> float:
    return float(evaluation.get("cost_lambda", DEFAULT_COST_LAMBDA))


def dearest_member(pool: dict) -> str:
    return ladder_order(pool)[-1]


def plot_accuracy_cost(metrics: dict, evaluation: dict, pool: dict, routers: Sequence[str] | None = None):
    """The accuracy-cost plot, each router read at several thresholds drawn as one line."""
    return plots.plot_accuracy_cost(metrics, {m.label: m.family() for m in _planned(evaluation, pool, routers)})


def log_runs(metrics: dict, evaluation: dict, pool: dict, pipeline: str = "evaluation",
             routers: Sequence[str] | None = None) -> dict:
    """One MLflow run per benchmark and method, tagged with how the method read its router, the
    torch build and the CPU capability (`training.numerics`); each run gets the plot too
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


def headroom_table(results: pd.DataFrame, pool: dict, evaluation: dict, rl_refinement: dict,
                   routers: Sequence[str] | None = None) -> pd.DataFrame:
    """RL's room at each lambda that trained a router (rl_refinement.cost_lambda for `r2`, and
    lambda_sweep[i - 1] for `r2_sweep_<i>`): the expected-reward oracle at that lambda against the
    label policy, and the router's gain over `r2_sft` (both read as evaluation.router says) on the
    same objective (reporting/headroom.py). A lambda whose methods are not all evaluated is left out."""
    planned = _planned(evaluation, pool, routers)
    lambdas = {"r2": rl_refinement["cost_lambda"],
               **{f"r2_sweep_{i}": lam for i, lam in enumerate(rl_refinement.get("lambda_sweep") or [], 1)}}
    points = []
    for router, lam in lambdas.items():
        point = {"cost_lambda": lam, "oracle": _first(planned, "expected_oracle", cost_lambda=float(lam), knows="subtask"),
                 "label_policy": _first(planned, "label_policy"), "router": _plain_reading(planned, router, evaluation),
                 "baseline": _plain_reading(planned, "r2_sft", evaluation)}
        if None in point.values():
            logger.info("headroom at lambda %s left out: evaluation.methods lacks one of %s", lam, point)
            continue
        points.append({**point, "bucket_oracle": _first(planned, "expected_oracle", cost_lambda=float(lam),
                                                       knows="bucket")})
    spec = evaluation.get("comparisons") or {}
    return headroom(results, points, alone(planned, dearest_member(pool)) or "", resamples=spec.get("resamples", 2000),
                    confidence=spec.get("confidence", 0.95), seed=spec.get("seed", 0))


def _first(methods: Sequence[Method], kind: str, **fields) -> str | None:
    """The first method of `kind` whose spec has `fields`."""
    return next((m.label for m in methods if m.kind == kind
                 and all(getattr(m, k, None) == v for k, v in fields.items())), None)


def _plain_reading(methods: Sequence[Method], router: str, evaluation: dict) -> str | None:
    """The method that reads `router` as evaluation.router says, with no recheck."""
    default = planned_methods({**evaluation, "methods": [router]}, [], [router])[0]
    return next((m.label for m in methods if m.kind == "r2" and m.reading() == default.reading()), None)


def package_router(metrics: dict, pool_manifest: dict, pool: dict, evaluation: dict, decomposer: str, allocator: str,
                   routers: Sequence[str] | None = None) -> RouterPackage:
    """The final router as the model `router_model` logs and registers (serving/): its two folders,
    what reads them as evaluation read them (its plain reading under `evaluation.router`, the pool
    and price table, the members' sampling), and that reading's objective per benchmark."""
    final = _routers(routers)[-1]
    method = expand_methods([final], [], evaluation, [final])[0]
    label = _plain_reading(_planned(evaluation, pool, routers), final, evaluation)
    if label is None:
        logger.warning("evaluation.methods has no plain reading of %s: its model is registered without an "
                       "objective", final)
    # a benchmark without the dearest member's single run has no cost scale, so no objective
    objectives = {benchmark: methods[label]["objective"] for benchmark, methods in metrics.items()
                  if methods.get(label, {}).get("objective") is not None}
    config = router_config(pool, pool_manifest, evaluation, method.model_copy(update={"name": label or method.label}),
                           str(project_root().resolve()))
    return RouterPackage(config, decomposer, allocator, objectives)
