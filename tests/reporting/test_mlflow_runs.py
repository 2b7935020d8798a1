"""MLflow logging of training curves and method runs (a throwaway sqlite store)."""

import math

import mlflow
import pandas as pd
import pytest

from r2_pipeline.reporting.mlflow_runs import log_curves


@pytest.fixture
def client(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("curves")
    yield mlflow.tracking.MlflowClient()
    mlflow.set_tracking_uri(previous)


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
