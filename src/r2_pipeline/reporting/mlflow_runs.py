"""MLflow runs per evaluation method and per training curve, nested under the kedro-mlflow run of
the stage when one is active, whose provenance tags (reporting/provenance.py) they carry too. In a
multi-process launch only the main process logs (ranks.py)."""

from __future__ import annotations

import logging
import math
import numbers
import tempfile
from pathlib import Path

import mlflow

from .. import ranks
from .provenance import inherited

logger = logging.getLogger(__name__)


def log_method_runs(metrics: dict, experiment: str, figure=None, tags: dict | None = None,
                    method_tags=None) -> dict:
    """One run per (benchmark, method), named after the method, with the same metric names;
    `method_tags(method)` adds a method's own tags (how a router was read), over `tags`, over the
    parent run's provenance tags. A NaN or infinite value
    is not logged (a warning names it): MLflow would show it as the metric's value. On a process
    other than a launch's main one nothing is logged and no run id returned."""
    if not ranks.is_main():
        return {}
    parent = mlflow.active_run()
    if parent is None:
        mlflow.set_experiment(experiment)
    run_ids: dict[str, dict[str, str]] = {}
    common = {**parent_provenance(parent), **(tags or {})}
    with tempfile.TemporaryDirectory() as tmp:
        plot = _save_figure(figure, Path(tmp)) if figure is not None else None
        for benchmark, methods in metrics.items():
            for method, values in methods.items():
                run_tags = {"benchmark": benchmark, "method": method, **common,
                            **(method_tags(method) if method_tags else {})}
                with mlflow.start_run(run_name=method, nested=parent is not None, tags=run_tags) as run:
                    mlflow.log_metrics(finite_metrics(values, f"{benchmark} / {method}"))
                    if plot is not None:
                        mlflow.log_artifact(str(plot))
                    run_ids.setdefault(benchmark, {})[method] = run.info.run_id
    logger.info("logged %d method runs to MLflow", sum(len(m) for m in run_ids.values()))
    return run_ids


def parent_provenance(parent) -> dict[str, str]:
    """The provenance tags of the active run `parent` (read back: the hook set them after it
    started), none without one."""
    return inherited(mlflow.get_run(parent.info.run_id).data.tags) if parent is not None else {}


def finite_metrics(values: dict, owner: str) -> dict[str, float]:
    """The numeric values as floats, the non-finite ones left out with one warning naming them."""
    numeric = {k: float(v) for k, v in values.items() if _number(v)}
    skipped = sorted(k for k, v in numeric.items() if not math.isfinite(v))
    if skipped:
        logger.warning("%s: metrics %s are not finite and are not logged to MLflow", owner, skipped)
    return {k: v for k, v in numeric.items() if k not in skipped}


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _save_figure(figure, folder: Path) -> Path:
    """The figure as `accuracy_vs_cost.png` in `folder`, drawn once for every method's run (each
    drawing of a many-method figure takes a large part of a second, and gives the same bytes)."""
    path = folder / "accuracy_vs_cost.png"
    figure.savefig(path, dpi=120, bbox_inches="tight")
    return path


def log_curves(run_name: str, history: list[dict], tags: dict | None = None) -> str | None:
    """Training curves (every numeric key of a trainer's log history, NaN aside) in a child run.

    A row's NaN is a column that row does not have (a frame's summary row has no `loss`), not a
    value: logged, it would become the metric's latest value in the MLflow UI. An infinite value
    (a diverged `grad_norm`) is real, and logged. On a process other than a launch's main one
    nothing is logged and the run id is None: the main process logs the same curves. `tags` go over
    the parent run's provenance tags."""
    if not ranks.is_main():
        return None
    parent = mlflow.active_run()
    with mlflow.start_run(run_name=run_name, nested=parent is not None,
                          tags={**parent_provenance(parent), **(tags or {})}) as run:
        for row in history:
            step = int(row.get("step", 0))
            values = {k: float(v) for k, v in row.items()
                      if _number(v) and k != "step" and not math.isnan(v)}
            if values:
                mlflow.log_metrics(values, step=step)
    return run.info.run_id
