"""Nodes of `evaluation`: run each method on the test split, summarise, plot, log to MLflow."""

from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ...pool.base import SamplingParams  # noqa: E402
from ...pool.factory import build_pool  # noqa: E402
from ...reasoning.methods import expand_methods, result_rows, run_method, step_rows  # noqa: E402
from ...tasks.base import get_task  # noqa: E402
from ...tracking import log_method_runs  # noqa: E402

logger = logging.getLogger(__name__)

METRICS = ("accuracy", "cost_usd", "prompt_tokens", "completion_tokens", "n")


def evaluate_methods(
    test_split: pd.DataFrame, pool_manifest: dict, pool: dict, evaluation: dict, context: dict | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method on every test question: a per-question table and a per-step table."""
    task = get_task(evaluation["benchmark"])
    examples = task.load(test_split, limit=evaluation.get("limit"))
    built = build_pool(pool_manifest, pool["prices"], pool.get("cache_path"), pool["price_table"])
    sampling = SamplingParams(**evaluation.get("sampling", {}))
    results, steps = [], []
    for method in expand_methods(evaluation["methods"], built.members):
        result = run_method(method, built, task, examples, sampling, context)
        results += result_rows(evaluation["benchmark"], result, task, examples)
        steps += step_rows(result, examples)
        logger.info("%s: accuracy %.3f", method, pd.DataFrame(results[-len(examples):])["correct"].mean())
    if built.cache is not None:
        logger.info("call cache: %s", built.cache.stats())
    return pd.DataFrame(results), pd.DataFrame(steps)


def summarize(results: pd.DataFrame, pool: dict) -> dict:
    """benchmark -> method -> metrics, with cost relative to the dearest pool member's single run."""
    metrics: dict[str, dict[str, dict]] = {}
    for (benchmark, method), group in results.groupby(["benchmark", "method"], sort=False):
        metrics.setdefault(benchmark, {})[method] = {
            "accuracy": float(group["correct"].mean()),
            "cost_usd": float(group["cost_usd"].sum()),
            "prompt_tokens": int(group["prompt_tokens"].sum()),
            "completion_tokens": int(group["completion_tokens"].sum()),
            "router_cost_usd": float(group["router_cost_usd"].sum()),
            "n": int(len(group)),
            "seconds": float(group["method_seconds"].iloc[0]),
        }
    largest = f"single:{dearest_member(pool)}"
    for methods in metrics.values():
        if largest in methods and methods[largest]["cost_usd"] > 0:
            for values in methods.values():
                values["cost_vs_largest"] = values["cost_usd"] / methods[largest]["cost_usd"]
    return metrics


def dearest_member(pool: dict) -> str:
    prices = pool["prices"]
    return max(pool["members"], key=lambda m: (prices[m]["output_per_m"], prices[m]["input_per_m"]))


def plot_accuracy_cost(metrics: dict):
    """Accuracy against total cost (log scale), one point per method."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(7 * len(metrics), 5), squeeze=False)
    for ax, (benchmark, methods) in zip(axes[0], metrics.items()):
        for method, values in methods.items():
            ax.scatter(values["cost_usd"], values["accuracy"], s=40)
            ax.annotate(method, (values["cost_usd"], values["accuracy"]), fontsize=8, xytext=(4, 2),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("API cost of the test split (USD, log scale)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{benchmark}: accuracy vs cost")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def log_runs(metrics: dict, evaluation: dict) -> dict:
    """Method runs get the plot too (redrawn: a saved figure cannot be loaded back as a dataset)."""
    figure = plot_accuracy_cost(metrics)
    try:
        return log_method_runs(metrics, evaluation["experiment"], figure)
    finally:
        plt.close(figure)
