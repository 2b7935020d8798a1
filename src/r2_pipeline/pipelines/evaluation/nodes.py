"""Nodes of `evaluation`: run each method on the test split, summarise, plot, log to MLflow."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ...baselines.query_router import KNNQueryRouter  # noqa: E402
from ...pool.base import sampling_from  # noqa: E402
from ...pool.factory import ladder_order, pool_from_params  # noqa: E402
from ...reasoning.context import MethodContext  # noqa: E402
from ...reasoning.methods import (  # noqa: E402
    TRAINED_ROUTER_KINDS,
    expand_methods,
    method_kind,
    query_router_threshold,
    recheck_spec,
    resolve_comparisons,
    result_rows,
    router_decoding,
    router_name,
    run_method,
    step_rows,
)
from ...reporting.stats import PairedComparison, paired_comparison, score_interval  # noqa: E402
from ...tasks.base import get_task  # noqa: E402
from ...tracking import log_method_runs  # noqa: E402
from ...training.ladder import numerics  # noqa: E402

logger = logging.getLogger(__name__)


def evaluate_methods(
    test_split: pd.DataFrame,
    pool_manifest: dict,
    pool: dict,
    evaluation: dict,
    member_outcomes: pd.DataFrame | None = None,
    *router_folders: str,
    routers: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method on every test question: a per-question table and a per-step table.

    `router_folders` are (decomposer, allocator) folder pairs, one per name in `routers` (the
    pipeline binds them: rl_refinement's trained_routers).
    """
    if len(router_folders) != 2 * len(routers):
        raise ValueError(f"routers {list(routers)} need {2 * len(routers)} folders, got {len(router_folders)}")
    folders = dict(zip(routers, zip(router_folders[::2], router_folders[1::2])))
    built = pool_from_params(pool_manifest, pool)
    context = method_context(pool, evaluation, built, member_outcomes, folders)
    results, steps = [], []
    for benchmark, spec in evaluation["benchmarks"].items():
        task = get_task(benchmark)
        # the micro world's test split comes from data_generation; other benchmarks load themselves
        source = test_split if benchmark == "micro" and test_split is not None else spec.get("source")
        if benchmark == "micro" and test_split is not None and spec.get("source"):
            logger.warning("evaluation reads data_generation's micro test split; evaluation.benchmarks.micro.source "
                           "(%s) is read only by evaluation_baselines", spec["source"])
        examples = task.load(source, split=spec.get("split", "test"), limit=spec.get("limit"))
        bench_sampling = sampling_from({**(evaluation.get("sampling") or {}), **(spec.get("sampling") or {})})
        for method in expand_methods(benchmark_methods(spec, evaluation), built.members):
            result = run_method(method, built, task, examples, bench_sampling, context)
            rows = result_rows(benchmark, result, task, examples)
            results += rows
            steps += step_rows(result, examples)
            logger.info("%s / %s: accuracy %.3f", benchmark, method, pd.DataFrame(rows)["correct"].mean())
    if built.cache is not None:
        logger.info("call cache: %s", built.cache.stats())
    return pd.DataFrame(results), pd.DataFrame(steps)


def benchmark_methods(spec: dict, evaluation: dict) -> list[str]:
    """A benchmark's own `methods`, or else `evaluation.methods`."""
    return spec.get("methods") or evaluation["methods"]


def planned_methods(evaluation: dict) -> list[str]:
    """Every method some benchmark runs (before `single`/`tier` expand), each once."""
    return list(dict.fromkeys(m for spec in evaluation["benchmarks"].values()
                              for m in benchmark_methods(spec or {}, evaluation)))


# methods that need no trained router and no outcome table: they run before any training
BASELINE_KINDS = {"single"}


def evaluate_baselines(pool_manifest: dict, pool: dict, evaluation: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The configured methods that need no trained router (`single:<member>`), on every benchmark
    that lists one. The others are skipped with a warning, so one `evaluation` block serves both
    pipelines.
    """
    planned = {name: benchmark_methods(spec, evaluation) for name, spec in evaluation["benchmarks"].items()}
    benchmarks = {name: {**evaluation["benchmarks"][name], "methods": kept} for name, methods in planned.items()
                  if (kept := [m for m in methods if method_kind(m) in BASELINE_KINDS])}
    if not benchmarks:
        raise ValueError(f"no benchmark lists a baseline ({sorted(BASELINE_KINDS)}) in evaluation.methods or its "
                         "own `methods`; the other methods need trained routers: run `evaluation`")
    skipped = sorted({m for methods in planned.values() for m in methods if method_kind(m) not in BASELINE_KINDS})
    if skipped:
        logger.warning("evaluation_baselines skips %s: they need trained routers (pipeline `evaluation`)", skipped)
    return evaluate_methods(None, pool_manifest, pool, {**evaluation, "benchmarks": benchmarks}, None)


def method_context(pool: dict, evaluation: dict, built, member_outcomes, routers) -> MethodContext:
    """`routers`: name -> (decomposer folder, allocator folder), the final router last."""
    routers = dict(routers)
    names = list(routers)
    router = evaluation.get("router") or {}
    ladder = ladder_order(pool)
    context = MethodContext(
        routers={name: (_local(decomposer), _local(allocator)) for name, (decomposer, allocator) in routers.items()},
        router_price=pool["prices"][pool["router_member"]] if pool.get("router_member") else None,
        final_router=names[-1] if names else "",
        router_sampling=sampling_from(router.get("sampling"), max_new_tokens=64),
        allocator_sampling=sampling_from(router.get("allocator_sampling"), max_new_tokens=4),
        ladder=ladder,
        fallback=router.get("fallback") or ladder[-1],
        min_success=router.get("min_success"),
        rule=router.get("rule", "cheapest_likely"),
        recheck_alpha=router.get("recheck_alpha", 0.0),
        seed=evaluation.get("seed", 0),
        cache=built.cache,
    )
    if member_outcomes is not None and any(method_kind(m) == "query_router" for m in planned_methods(evaluation)):
        knn = evaluation.get("query_router", {})
        context.query_router = KNNQueryRouter(ladder, **knn).fit(
            list(member_outcomes["question"]), member_outcomes[ladder].to_numpy()
        )
    return context


def _local(path: str):
    from ...pool.local import trained_router

    return trained_router(path)


def summarize(results: pd.DataFrame, pool: dict) -> dict:
    """benchmark -> method -> metrics, with cost relative to the dearest pool member's single run."""
    metrics: dict[str, dict[str, dict]] = {}
    for (benchmark, method), group in results.groupby(["benchmark", "method"], sort=False):
        low, high = score_interval(group["correct"])
        metrics.setdefault(benchmark, {})[method] = {
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
        if metrics[benchmark][method]["estimated_token_steps"]:
            logger.warning("%s / %s: %d steps' token counts are estimates (the server sent no usage)",
                           benchmark, method, metrics[benchmark][method]["estimated_token_steps"])
    largest = f"single:{dearest_member(pool)}"
    for methods in metrics.values():
        if largest in methods and methods[largest]["cost_usd"] > 0:
            for values in methods.values():
                values["cost_vs_largest"] = values["cost_usd"] / methods[largest]["cost_usd"]
    return metrics


def compare_methods(results: pd.DataFrame, pool: dict, evaluation: dict) -> pd.DataFrame:
    """One row per benchmark and `evaluation.comparisons` pair: the two methods on the same
    questions, with a paired bootstrap interval of the accuracy difference and of the cost ratio,
    and McNemar's exact test. A pair a benchmark does not run is left out of that benchmark."""
    spec = evaluation.get("comparisons") or {}
    pairs = resolve_comparisons(spec.get("pairs", []), planned_methods(evaluation), list(pool["members"]),
                                dearest_member(pool))
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


def aligned_answers(a: pd.DataFrame, b: pd.DataFrame, benchmark: str, method: str, baseline: str):
    """Both methods' rows in the same question order; they must have answered the same questions."""
    for name, table in ((method, a), (baseline, b)):
        if table.index.has_duplicates:
            raise ValueError(f"{benchmark} / {name}: question ids repeat, so answers cannot be paired")
    if set(a.index) != set(b.index):
        raise ValueError(f"{benchmark}: {method} and {baseline} answered different questions "
                         f"({len(set(a.index) ^ set(b.index))} ids in one only)")
    return a, b.loc[a.index]


def dearest_member(pool: dict) -> str:
    return ladder_order(pool)[-1]


def _decoding(method: str, router: dict) -> tuple[str, float | None]:
    """(rule, min_success) a trained-router method reads its allocator with, `evaluation.router`
    supplying the bare name's."""
    return router_decoding(method, router.get("rule", "cheapest_likely"), router.get("min_success"))


def frontier_family(method: str, router: dict | None = None) -> str:
    """Methods that are one model read at several thresholds share a family, drawn joined as a
    frontier: `query_router@<t>`; a trained router by its decoding rule (the bare name decodes as
    `evaluation.router` says; greedy is a family of its own)."""
    base = router_name(method)
    if method_kind(method) not in TRAINED_ROUTER_KINDS:
        return base if method_kind(method) == "query_router" else method
    router = router or {}
    rule, min_success = _decoding(method, router)
    family = f"{base}@greedy" if min_success is None else f"{base}@{rule}"
    spec = recheck_spec(method)
    return family + ("" if spec is None else "+recheck_agree" if spec[1] else "+recheck")


def decoding_tags(method: str, evaluation: dict) -> dict[str, str]:
    """How a method read its router, as MLflow tags: `router`, `rule` and `threshold` for a
    trained router (`greedy` for no threshold), with `recheck` (tau), `recheck_agree` and
    `recheck_alpha` (the quantile read) for a `+recheck` reading; `threshold` for the query router.
    So the UI can filter one router's readings and chart them as a frontier."""
    kind = method_kind(method)
    if kind == "query_router":
        threshold = query_router_threshold(method)
        if threshold is None:
            threshold = (evaluation.get("query_router") or {}).get("threshold", 0.9)
        return {"router": "query_router", "threshold": str(threshold)}
    if kind not in TRAINED_ROUTER_KINDS:
        return {}
    router = evaluation.get("router") or {}
    rule, min_success = _decoding(method, router)
    spec = recheck_spec(method)
    return {"router": router_name(method), "rule": "greedy" if min_success is None else rule,
            "threshold": "none" if min_success is None else str(min_success),
            "recheck": "none" if spec is None else str(spec[0]),
            "recheck_agree": "none" if spec is None else str(spec[1]).lower(),
            "recheck_alpha": "none" if spec is None else str(float(router.get("recheck_alpha", 0.0)))}


# the right-hand panel: the methods within this much accuracy of the best, where routers crowd
ZOOM_ACCURACY = 0.06


def plot_accuracy_cost(metrics: dict, evaluation: dict | None = None):
    """Accuracy against total cost (log scale), one point per method, one row per benchmark; a line
    joins the points of one router read at several thresholds, in their colour. The right panel
    repeats the methods within ZOOM_ACCURACY of the best accuracy, each labelled; the left one
    labels the rest and names the lines in its legend."""
    router = (evaluation or {}).get("router") or {}
    fig, axes = plt.subplots(len(metrics), 2, figsize=(15, 5.5 * len(metrics)), squeeze=False)
    for (full, top), (benchmark, methods) in zip(axes, metrics.items()):
        families: dict[str, list[str]] = {}
        for method in methods:
            families.setdefault(frontier_family(method, router), []).append(method)
        best = max((values["accuracy"] for values in methods.values()), default=0.0)
        zoomed = {m for m, values in methods.items() if values["accuracy"] >= best - ZOOM_ACCURACY}
        _draw(full, methods, families, labelled=set(methods) - zoomed, legend=True)
        _draw(top, methods, families, labelled=zoomed, only=zoomed)
        full.set_title(f"{benchmark}: accuracy vs cost")
        top.set_title(f"{benchmark}: the methods within {ZOOM_ACCURACY:g} of the best accuracy")
    fig.tight_layout()
    return fig


def _draw(ax, methods: dict, families: dict[str, list[str]], labelled: set[str], legend: bool = False,
          only: set[str] | None = None) -> None:
    for colour, (name, family) in enumerate(families.items()):
        shown = [m for m in family if only is None or m in only]
        if not shown:
            continue
        points = sorted((methods[m]["cost_usd"], methods[m]["accuracy"]) for m in shown)
        if len(points) > 1:
            ax.plot(*zip(*points), lw=1, alpha=0.5, color=f"C{colour % 10}", label=name)
        ax.scatter(*zip(*points), s=40, color=f"C{colour % 10}")
    for method in labelled:
        values = methods[method]
        ax.annotate(method, (values["cost_usd"], values["accuracy"]), fontsize=7, xytext=(4, 2),
                    textcoords="offset points")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel("API cost of the test split (USD, log scale)")
    ax.set_ylabel("accuracy")
    ax.grid(True, which="both", alpha=0.3)


def log_runs(metrics: dict, evaluation: dict, pipeline: str = "evaluation") -> dict:
    """Method runs get the plot too (redrawn: a saved figure cannot be loaded back as a dataset), and
    the torch build and CPU capability as tags (`training.ladder.numerics`)."""
    figure = plot_accuracy_cost(metrics, evaluation)
    try:
        return log_method_runs(metrics, evaluation["experiment"], figure,
                               tags={"pipeline": pipeline, **numerics()},
                               method_tags=lambda method: decoding_tags(method, evaluation))
    finally:
        plt.close(figure)


def log_baseline_runs(metrics: dict, evaluation: dict) -> dict:
    """As `log_runs`, tagged `pipeline: evaluation_baselines` so the UI tells the two apart."""
    return log_runs(metrics, evaluation, pipeline="evaluation_baselines")
