"""Reproducing a published run without retraining, as docs/reproduce.md says: clone A (the chain
reproduced on the test parameters) commits dvc.lock and pushes its outputs to a local DVC remote;
clone B, a `git clone` of A, pulls them, finds nothing to rerun, and its evaluation of the pulled
weights gives every metric A pushed."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).parents[1]
GIT_USER = ("-c", "user.name=r2", "-c", "user.email=r2@example.com")
TIMINGS = {"seconds"}  # wall time: the one metric a rerun does not repeat


def test_every_output_is_cached_so_a_remote_carries_it():
    """git ignores data/: an output with `cache: false` reaches no other clone, whose `dvc repro`
    would then rerun its stage."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    uncached = [f"{name}: {next(iter(out))}" for name, stage in stages.items()
                for out in stage.get("outs", []) + stage.get("metrics", [])
                if isinstance(out, dict) and next(iter(out.values())).get("cache") is False]
    assert not uncached


@pytest.fixture(scope="module")
def published(reproduced_project, project_cli, tmp_path_factory) -> Path:
    """Clone A: a git repository of the reproduced project, dvc.lock committed, pushed to a local remote."""
    base = tmp_path_factory.mktemp("published")
    clone = base / "a"
    shutil.copytree(reproduced_project, clone, symlinks=True)
    project_cli(clone, "git", "init", "-q")
    project_cli(clone, "dvc", "config", "--unset", "core.no_scm")
    project_cli(clone, "dvc", "remote", "add", "-d", "store", str(base / "store"))
    project_cli(clone, "git", "add", "-A")
    project_cli(clone, "git", *GIT_USER, "commit", "-q", "-m", "a run of the test profile")
    project_cli(clone, "dvc", "push")
    return clone


def evaluation_run(project: Path):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("r2-micro")
    return client.search_runs([experiment.experiment_id], "attributes.run_name = 'evaluation'",
                              order_by=["attributes.start_time DESC"], max_results=1)[0]


def without_timings(metrics: dict) -> dict:
    return {benchmark: {method: {k: v for k, v in values.items() if k not in TIMINGS}
                        for method, values in methods.items()} for benchmark, methods in metrics.items()}


@pytest.mark.slow
@pytest.mark.integration
def test_a_pulled_clone_reruns_nothing_and_evaluates_to_the_pushed_metrics(published, project_cli, tmp_path):
    clone = tmp_path / "b"
    project_cli(tmp_path, "git", "clone", "-q", str(published), str(clone))
    project_cli(clone, "dvc", "pull")
    assert "up to date" in project_cli(clone, "dvc", "status").stdout
    repro = project_cli(clone, "dvc", "repro").stdout
    assert "Running stage" not in repro and "didn't change, skipping" in repro

    project_cli(clone, "kedro", "run", "--pipelines", "evaluation")  # a cold call cache: every answer anew
    reporting = Path("data/08_reporting")
    pushed, pulled = (json.loads((p / reporting / "metrics.json").read_text()) for p in (published, clone))
    assert without_timings(pulled) == without_timings(pushed)
    for table in ("method_comparisons.csv", "headroom.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(clone / reporting / table), pd.read_csv(published / reporting / table))

    # B's run names A's commit, a clean tree, and the very folders A evaluated
    tags, first = evaluation_run(clone).data.tags, evaluation_run(published).data.tags
    head = project_cli(published, "git", "rev-parse", "HEAD").stdout.strip()
    assert (tags["git_commit"], tags["git_dirty"]) == (head, "false")
    hashes = {k: v for k, v in tags.items() if k.startswith("dvc.")}
    assert hashes == {k: v for k, v in first.items() if k.startswith("dvc.")} and "dvc.pool_models" in hashes
