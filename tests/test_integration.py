"""The real pipelines on conf/test, in a temporary copy of the project: files, metrics and MLflow runs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    dest = tmp_path_factory.mktemp("project") / "r2"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".git", "mlflow.db", "mlruns", "*.pyc", "data"))
    for layer in (ROOT / "data").iterdir():
        if layer.is_dir() and layer.name[:2].isdigit():
            (dest / "data" / layer.name).mkdir(parents=True, exist_ok=True)
    return dest


def kedro(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
    kedro_bin = Path(sys.executable).parent / "kedro"
    return subprocess.run([str(kedro_bin), "run", "--env", "test", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run(project):
    done = kedro(project, "--pipeline=alternating_training")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return project


def test_metrics_file_maps_benchmark_method_metrics(run):
    metrics = json.loads((run / "data/08_reporting/metrics.json").read_text())
    methods = metrics["micro"]
    assert set(methods) >= {f"single:t{k}" for k in range(1, 6)}
    for values in methods.values():
        assert {"accuracy", "cost_usd", "prompt_tokens", "completion_tokens", "n"} <= set(values)
        assert values["n"] == 20 and 0 <= values["accuracy"] <= 1 and values["prompt_tokens"] > 0
    # same tokens for every single run (same plans, same prompts), dearer member costs more
    assert methods["single:t5"]["cost_usd"] > methods["single:t1"]["cost_usd"]


def test_outputs_on_disk(run):
    for path in ["data/08_reporting/pool_ladder.csv", "data/08_reporting/accuracy_vs_cost.png",
                 "data/07_model_output/evaluation_results.parquet", "data/06_models/pool_manifest.json",
                 "data/01_raw/world_test.parquet"]:
        assert (run / path).stat().st_size > 0, path
    assert len(list((run / "data/06_models/pool").iterdir())) == 5


def test_mlflow_runs_read_back(run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("r2-micro-test")
    runs = client.search_runs([experiment.experiment_id], "tags.method = 'single:t5'")
    assert len(runs) == 1
    assert runs[0].data.tags["benchmark"] == "micro" and runs[0].info.run_name == "single:t5"
    assert set(runs[0].data.metrics) >= {"accuracy", "cost_usd", "prompt_tokens", "completion_tokens"}
    ladder = client.search_runs([experiment.experiment_id], "metrics.`ladder.t1.bucket_1` >= 0")
    assert ladder, "the ladder metrics were not logged to the stage run"


def test_cached_rerun_of_evaluation_makes_no_model_call(run):
    done = kedro(run, "--pipelines", "evaluation")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'cache_misses': 0" in done.stdout + done.stderr
