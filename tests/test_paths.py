"""Relative paths in parameters and in the pool manifest resolve against the project root of the
Kedro run in progress, not the working directory (`kedro run` from `notebooks/`, or a notebook)."""

import os
import shutil
from pathlib import Path

import pytest

from r2_pipeline.hooks import ProjectRootHook
from r2_pipeline.paths import ROOT_ENV, from_root, project_root, rooted
from r2_pipeline.pipelines.model_pool.nodes import project_relative
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.factory import build_pool
from r2_pipeline.tasks.loading import load_records

PRICE = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "d", "source": "s"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project root with a `notebooks/` folder as the working directory, as in a notebook."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    monkeypatch.chdir(root / "notebooks")
    monkeypatch.setenv(ROOT_ENV, str(root))
    return root


def test_without_a_run_paths_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path
    assert from_root("data/cache/calls.sqlite") == str(tmp_path / "data/cache/calls.sqlite")


def test_during_a_run_relative_paths_follow_the_project_root(project):
    assert from_root("data/cache/calls.sqlite") == str(project / "data/cache/calls.sqlite")
    assert from_root("/abs/calls.sqlite") == "/abs/calls.sqlite"
    assert from_root("~/x") == str(Path.home() / "x")
    assert project_relative(str(project / "data/06_models/pool/t1")) == "data/06_models/pool/t1"


def test_the_pool_finds_relative_member_folders_and_its_cache_under_the_root(project, tiny_member):
    shutil.copytree(tiny_member, project / "data/06_models/pool/t1")
    pool = build_pool({"t1": {"backend": "transformers", "path": "data/06_models/pool/t1"}},
                      {"t1": PRICE}, "data/cache/calls.sqlite")
    pool.generate("t1", ["001+001="], SamplingParams(max_new_tokens=3))
    assert (project / "data/cache/calls.sqlite").is_file()
    assert not (project / "notebooks/data").exists()  # nothing written beside the notebook


def test_a_relative_benchmark_file_is_read_from_the_root(project):
    (project / "data").mkdir()
    (project / "data/rows.jsonl").write_text('{"q": 1}\n')
    assert load_records("data/rows.jsonl", "test", hub=None, offline=None) == [{"q": 1}]
    with pytest.raises(FileNotFoundError, match="under .*project"):
        load_records("data/missing.jsonl", "test", hub=None, offline=None)


def test_the_hook_sets_the_root_for_a_run_and_restores_it_after(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_ENV, "/before")
    hook = ProjectRootHook()
    hook.before_pipeline_run({"project_path": str(tmp_path)})
    assert os.environ[ROOT_ENV] == str(tmp_path)
    hook.after_pipeline_run()
    assert os.environ[ROOT_ENV] == "/before"
    monkeypatch.delenv(ROOT_ENV)
    hook.before_pipeline_run({"project_path": str(tmp_path)})
    hook.on_pipeline_error()  # a failed run restores too
    assert ROOT_ENV not in os.environ


def test_rooted_blocks_nest_and_restore_even_on_error(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_ENV, raising=False)
    with rooted(tmp_path / "a"):
        assert from_root("x") == str(tmp_path / "a/x")
        with pytest.raises(RuntimeError), rooted(tmp_path / "b"):
            assert from_root("x") == str(tmp_path / "b/x")
            raise RuntimeError
        assert from_root("x") == str(tmp_path / "a/x")
    assert ROOT_ENV not in os.environ


@pytest.mark.parametrize("env", ["base", "test", "paper"])
def test_mlflow_store_and_artifacts_are_the_projects_from_a_subfolder(env, monkeypatch):
    """A first `kedro run` from notebooks/ creates the experiment: its artifact root must be the
    project's mlruns/, not notebooks/mlruns (MLflow's ./mlruns), for every later run too."""
    from kedro.config import OmegaConfigLoader

    from r2_pipeline.settings import CONFIG_LOADER_ARGS

    root = Path(__file__).parents[1].resolve()
    monkeypatch.chdir(root / "notebooks")
    args = {**CONFIG_LOADER_ARGS, "base_env": "base", "default_run_env": env}
    tracking = OmegaConfigLoader(conf_source=str(root / "conf"), env=env, **args)["mlflow"]
    server, experiment = tracking["server"], tracking["tracking"]["experiment"]
    assert server["mlflow_tracking_uri"] == f"sqlite:///{root.as_posix()}/mlflow.db"
    assert experiment["create_experiment_kwargs"]["artifact_location"] == f"{root.as_posix()}/mlruns/{experiment['name']}"


def test_a_micro_source_is_the_projects(tmp_path, monkeypatch):
    """evaluation.benchmarks.micro.source (read by evaluation_baselines) resolves from the project root,
    like every relative path in parameters: `kedro run` from notebooks/ finds it."""
    import pandas as pd

    from r2_pipeline.tasks.base import get_task

    (tmp_path / "data").mkdir()
    pd.DataFrame({"id": ["q"], "question": ["Ann has 3 apples."], "answer": [3]}).to_parquet(tmp_path / "data/t.parquet")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    with rooted(tmp_path):
        (example,) = get_task("micro").load("data/t.parquet")
    assert example.answer == 3
