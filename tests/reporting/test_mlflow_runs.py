"""MLflow logging of training curves and method runs (a throwaway sqlite store)."""

import math
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from r2_pipeline.reporting.mlflow_runs import log_curves

EXPERIMENT = "curves"  # the client fixture's (conftest.py)


@pytest.mark.slow
def test_a_summary_row_nan_does_not_become_the_latest_value(client):
    # a trainer's history as a frame: the last (summary) row has no loss, so records give NaN there
    history = pd.DataFrame([
        {"step": 1, "loss": 2.0, "reward": 0.25},
        {"step": 2, "loss": 1.5, "reward": 0.5, "grad_norm": float("inf")},
        {"step": 2, "train_runtime": 3.0},
    ]).to_dict("records")
    assert math.isnan(history[-1]["loss"])

    run_id = log_curves("allocator", history)

    metrics = client.get_run(run_id).data.metrics
    assert metrics["loss"] == 1.5 and metrics["reward"] == 0.5 and metrics["train_runtime"] == 3.0
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [2.0, 1.5]
    assert "step" not in metrics
    assert metrics["grad_norm"] > 1e300  # a diverged value is kept


def test_non_finite_method_metrics_are_left_out_with_one_warning(caplog):
    from r2_pipeline.reporting.mlflow_runs import finite_metrics

    values = {"accuracy": 0.5, "n": 20, "objective": math.nan, "cost_vs_largest": math.inf, "seeds": 3,
              "note": "text", "flag": True}
    with caplog.at_level("WARNING", logger="r2_pipeline.reporting.mlflow_runs"):
        logged = finite_metrics(values, "micro / r2")
    assert logged == {"accuracy": 0.5, "n": 20.0, "seeds": 3.0}
    [record] = caplog.records
    assert "micro / r2" in record.getMessage() and "['cost_vs_largest', 'objective']" in record.getMessage()


@pytest.mark.slow
def test_method_runs_never_log_a_non_finite_value(client):
    from r2_pipeline.reporting.mlflow_runs import log_method_runs

    metrics = {"micro": {"r2": {"accuracy": 0.75, "objective": math.nan, "cost_vs_largest": math.inf}}}
    run_ids = log_method_runs(metrics, "curves")
    assert client.get_run(run_ids["micro"]["r2"]).data.metrics == {"accuracy": 0.75}



@pytest.mark.slow
def test_every_method_run_gets_the_plot(client):
    """The figure is drawn once and the same PNG logged to each method's run."""
    from r2_pipeline.reporting.mlflow_runs import log_method_runs
    from r2_pipeline.reporting.plots import close, plot_accuracy_cost

    metrics = {"micro": {m: {"accuracy": a, "cost_usd": c} for m, a, c in (("r2", 0.75, 0.2), ("t1", 0.5, 0.1))}}
    figure = plot_accuracy_cost(metrics)
    run_ids = log_method_runs(metrics, "curves", figure)
    close(figure)
    pngs = [Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="accuracy_vs_cost.png")).read_bytes()
            for run_id in run_ids["micro"].values()]
    assert len(pngs) == 2 and pngs[0] == pngs[1] and pngs[0].startswith(b"\x89PNG")

def test_the_only_mlflow_metrics_dataset_is_the_ladder_and_it_is_finite(ladder_pool, monkeypatch):
    """Every kedro-mlflow metrics dataset in the catalog is written by a node that cannot emit NaN:
    `ladder` (measure_ladder) divides by `heldout_per_bucket`, which validation keeps positive. A new
    metrics dataset fails here until its node is checked the same way."""
    from pathlib import Path

    import yaml
    from pydantic import ValidationError

    from r2_pipeline.pipelines.model_pool import nodes
    from r2_pipeline.pipelines.model_pool.params import ModelPoolParams

    catalog = yaml.safe_load((Path(__file__).parents[2] / "conf/base/catalog.yml").read_text())
    metric_datasets = {name for name, spec in catalog.items()
                       if isinstance(spec, dict) and "Metric" in str(spec.get("type", "")).rsplit(".", 1)[-1]}
    assert metric_datasets == {"ladder"}
    monkeypatch.setattr(nodes, "pool_from_params", lambda manifest, pool: ladder_pool)
    _, values = nodes.measure_ladder({}, {}, {"seed": 0, "heldout_per_bucket": 1})
    assert values and all(math.isfinite(v["value"]) for v in values.values())
    with pytest.raises(ValidationError) as refused:
        ModelPoolParams.model_validate({"heldout_per_bucket": 0})
    assert any(e["loc"] == ("heldout_per_bucket",) and e["type"] == "greater_than" for e in refused.value.errors())
