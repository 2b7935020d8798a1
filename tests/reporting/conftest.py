"""Fixtures of the reporting tests: an MLflow store of the test's own."""

import mlflow
import pytest


@pytest.fixture
def client(tmp_path, request):
    """A client of a fresh sqlite MLflow store, the tracking URI while the test runs, and an active
    experiment named by the module's `EXPERIMENT`."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment(request.module.EXPERIMENT)
    yield mlflow.tracking.MlflowClient()
    mlflow.set_tracking_uri(previous)
