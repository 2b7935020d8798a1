"""A method's metrics on one benchmark from its rows, one per (question, evaluation seed): accuracy
with its interval and its spread over seeds, per-seed costs and tokens, and the accuracy-cost
objective `accuracy - cost_lambda * cost_vs_largest`."""

from __future__ import annotations

import pandas as pd

from .stats import Bootstrap, cluster_interval, score_interval

# summed over the rows, then divided by the number of seeds: a total over the questions per seed
PER_SEED_TOTALS = ("cost_usd", "prompt_tokens", "completion_tokens", "router_cost_usd",
                   # steps whose token counts (and so cost) the backend estimated: the server sent no usage
                   "estimated_token_steps",
                   "rechecked_steps")
# one value per run of the method (the same on each of its rows): averaged over the seeds' runs
PER_RUN = {"invalid_allocations": "invalid_allocations", "seconds": "method_seconds"}


def benchmark_metrics(table: pd.DataFrame, largest: str | None, cost_lambda: float,
                      bootstrap: Bootstrap | None = None) -> dict[str, dict]:
    """method -> metrics for one benchmark's rows. With the largest method run (and not free), each
    method also gets `cost_vs_largest` and the objective; without it they are left out."""
    bootstrap = bootstrap or Bootstrap()
    if "seed" not in table.columns:
        raise ValueError("the result rows have no `seed` column: each row is one question under one evaluation "
                         "seed (methods/rows.py result_rows)")
    groups = dict(tuple(table.groupby("method", sort=False)))
    methods = {method: method_metrics(group, bootstrap) for method, group in groups.items()}
    unit = largest_unit_cost(table, largest)
    if unit is None:
        return methods
    for method, group in groups.items():
        methods[method]["cost_vs_largest"] = methods[method]["cost_usd"] / methods[largest]["cost_usd"]
        methods[method].update(objective_metrics(group, methods[method], unit, cost_lambda, bootstrap))
    return methods


def method_metrics(group: pd.DataFrame, bootstrap: Bootstrap | None = None) -> dict:
    """One method's rows on one benchmark: means over the (question, seed) rows, per-seed totals."""
    bootstrap = bootstrap or Bootstrap()
    seeds = int(group["seed"].nunique())
    low, high = accuracy_interval(group, bootstrap)
    per_seed = group.groupby("seed")["correct"].mean()
    runs = group.groupby("seed")[list(PER_RUN.values())].first()
    return {
        "accuracy": float(group["correct"].mean()),
        "accuracy_ci95_low": low,
        "accuracy_ci95_high": high,
        # the sample standard deviation of the per-seed accuracies
        "accuracy_seed_sd": float(per_seed.std(ddof=1)) if seeds > 1 else 0.0,
        "seeds": seeds,
        **{name: float(group[name].sum() / seeds) for name in PER_SEED_TOTALS},
        "n": int(group["id"].nunique()),
        # how finely plans split questions: fewer subtasks per question, more merged ones
        "subtasks_per_question": float(group["n_steps"].mean()) if "n_steps" in group else 0.0,
        **{name: float(runs[column].mean()) for name, column in PER_RUN.items()},
    }


def accuracy_interval(group: pd.DataFrame, bootstrap: Bootstrap) -> tuple[float, float]:
    """Wilson's interval (score_interval) with one seed; with several, the cluster bootstrap over
    questions, each drawn with its rows under every seed."""
    if group["seed"].nunique() == 1:
        return score_interval(group["correct"], bootstrap.confidence)
    return cluster_interval(group["correct"], group["id"], bootstrap)


def largest_unit_cost(table: pd.DataFrame, largest: str | None) -> float | None:
    """The largest method's mean cost per (question, seed) row on this benchmark; None where it does
    not run or costs nothing (no cost to measure against)."""
    rows = table[table["method"] == largest] if largest is not None else table.iloc[:0]
    unit = float(rows["cost_usd"].mean()) if len(rows) else 0.0
    return unit if unit > 0 else None


def objective_metrics(group: pd.DataFrame, metrics: dict, unit: float, cost_lambda: float,
                      bootstrap: Bootstrap) -> dict:
    """`objective` = accuracy - cost_lambda * cost_vs_largest, with the cluster bootstrap interval of
    the mean per-row objective, correct - cost_lambda * cost_usd / `unit` (the largest method's mean
    cost per row)."""
    per_row = group["correct"].astype(float) - cost_lambda * group["cost_usd"] / unit
    low, high = cluster_interval(per_row, group["id"], bootstrap)
    return {"objective": metrics["accuracy"] - cost_lambda * metrics["cost_vs_largest"],
            "objective_ci95_low": low, "objective_ci95_high": high, "cost_lambda": float(cost_lambda)}
