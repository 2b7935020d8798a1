"""Accuracy against cost: one point per method, a line through each family of one router read at
several thresholds."""

from __future__ import annotations

import functools
from collections.abc import Mapping

# the right-hand panel: the methods within this much accuracy of the best, where routers crowd
ZOOM_ACCURACY = 0.06


@functools.cache
def pyplot():
    """matplotlib's pyplot on the Agg backend (figures are saved, never shown), imported on first use:
    the evaluation's nodes import this module, also in runs that draw nothing (the estimate's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_cost(metrics: dict, families: Mapping[str, str] | None = None):
    """Accuracy against cost (log scale; both means over the evaluation seeds, cost the test split's
    total per seed), one point per method, one row per benchmark; a line joins the points of one
    family (`families`: method name -> family; a method not in it is its own), in their colour. The right panel repeats the methods within ZOOM_ACCURACY of the best
    accuracy, each labelled; the left one labels the rest and names the lines in its legend."""
    families = families or {}
    fig, axes = pyplot().subplots(len(metrics), 2, figsize=(15, 5.5 * len(metrics)), squeeze=False)
    for (full, top), (benchmark, methods) in zip(axes, metrics.items()):
        grouped: dict[str, list[str]] = {}
        for method in methods:
            grouped.setdefault(families.get(method, method), []).append(method)
        best = max((values["accuracy"] for values in methods.values()), default=0.0)
        zoomed = {m for m, values in methods.items() if values["accuracy"] >= best - ZOOM_ACCURACY}
        _draw(full, methods, grouped, labelled=set(methods) - zoomed, legend=True)
        _draw(top, methods, grouped, labelled=zoomed, only=zoomed)
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
    ax.set_xlabel("API cost of the test split per seed (USD, log scale)")
    ax.set_ylabel("accuracy")
    ax.grid(True, which="both", alpha=0.3)


def close(figure) -> None:
    """Release a figure once it is saved or logged (pyplot keeps every open figure)."""
    pyplot().close(figure)
