"""Provenance of MLflow runs: the tags' parts on small real inputs (a git repository, a DVC
repository, a sqlite MLflow store), then the tags and the test split read back from the evaluation
run of the chain reproduced on the test parameters."""

import subprocess

import mlflow
import pandas as pd
import pytest
import yaml

from r2_pipeline.reporting import provenance
from r2_pipeline.reporting.mlflow_runs import log_curves, log_method_runs

GIT_USER = ("-c", "user.name=r2", "-c", "user.email=r2@example.com")


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


EXPERIMENT = "provenance"  # the client fixture's (conftest.py)


@pytest.mark.parametrize("env, expected", [(None, "base"), ("local", "base"), ("test", "test"), ("paper", "paper")])
def test_the_profile_is_the_env_whose_parameters_ran(env, expected):
    assert provenance.profile(env) == expected


def test_price_tags_name_the_table_and_its_dates():
    pool = {"price_table": "ladder", "prices": {"a": {"date": "2026-11-27"}, "b": {"date": "2025-01-02"},
                                                "c": {"date": "2026-11-27"}}}
    assert provenance.price_tags(pool) == {"price_table": "ladder", "price_table_date": "2025-01-02,2026-11-27"}


def test_git_tags_say_the_commit_and_whether_the_tree_differs(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "nodes.py").write_text("x = 1\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, *GIT_USER, "commit", "-q", "-m", "one")
    head = git(tmp_path, "rev-parse", "HEAD")
    assert provenance.git_tags(tmp_path) == {"git_commit": head, "git_dirty": "false",
                                             "mlflow.source.git.commit": head}
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")  # what `dvc repro` writes is no change of code
    assert provenance.git_tags(tmp_path)["git_dirty"] == "false"
    (tmp_path / "nodes.py").write_text("x = 2\n")
    assert provenance.git_tags(tmp_path)["git_dirty"] == "true"


def test_git_tags_outside_git_are_unknown(tmp_path):
    assert provenance.git_tags(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}


def model_folder(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"n_layer": 1}')
    (path / "model.safetensors").write_bytes(bytes(range(256)))
    return path


def test_dvc_hashes_are_the_ones_dvc_records(tmp_path):
    """In a DVC repository, `dvc add`'s hash; outside one the same; a missing folder left out."""
    from dvc.repo import Repo

    project = tmp_path / "project"
    folder = model_folder(project / "models" / "router")
    with Repo.init(str(project), no_scm=True) as repo:
        repo.add(str(folder))
    recorded = yaml.safe_load((folder.parent / "router.dvc").read_text())["outs"][0]["md5"]
    assert recorded.endswith(".dir")
    assert provenance.dvc_hashes({"router": folder, "gone": project / "nowhere"}, project) == {"router": recorded}
    elsewhere = model_folder(tmp_path / "loose" / "router")
    assert provenance.dvc_hashes({"router": elsewhere}, tmp_path / "loose") == {"router": recorded}


def test_run_tags_carry_every_part(tmp_path):
    folder = model_folder(tmp_path / "pool")
    machine = {"torch": "2.x", "cpu_capability": "AVX2"}
    tags = provenance.run_tags(tmp_path, "test", machine, {"price_table": "t", "prices": {"a": {"date": "d"}}},
                               {"pool": folder})
    assert {"git_commit", "git_dirty"} <= set(tags) and tags["cpu_capability"] == "AVX2"
    assert (tags["profile"], tags["price_table"], tags["price_table_date"]) == ("test", "t", "d")
    assert tags["dvc.pool"].endswith(".dir")
    assert "price_table" not in provenance.run_tags(tmp_path, None, machine)  # a run that reads no pool


@pytest.mark.slow
def test_a_split_is_a_dataset_input_digested_by_its_dvc_hash(client, tmp_path):
    split = pd.DataFrame({"id": [1, 2], "question": ["1+1", "2+2"]})
    path = tmp_path / "world_test.parquet"
    split.to_parquet(path)
    with mlflow.start_run() as run:
        provenance.log_split(split, "world_test", path, "test", "test", tmp_path)
        provenance.log_split(split, "world_test", path, "test", "test", tmp_path)  # once is enough
    [logged] = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "world_test (test)"
    assert logged.dataset.digest == provenance.dvc_hashes({"f": path}, tmp_path)["f"]
    assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "test")]
    assert logged.dataset.source == f'{{"uri": "{path.as_uri()}"}}'


@pytest.mark.slow
def test_child_runs_carry_their_parents_provenance(client):
    parent_tags = {"git_commit": "abc", "profile": "test", "dvc.pool_models": "1.dir", "pipeline_name": "x"}
    with mlflow.start_run():
        mlflow.set_tags(parent_tags)  # after the start, as the hook sets them
        method = log_method_runs({"micro": {"r2": {"accuracy": 1.0}}}, "provenance", tags={"profile": "own"})
        curve = log_curves("allocator", [{"step": 1, "loss": 1.0}], tags={"phase": "allocator"})
    method_tags = client.get_run(method["micro"]["r2"]).data.tags
    curve_tags = client.get_run(curve).data.tags
    assert (method_tags["git_commit"], method_tags["dvc.pool_models"], method_tags["profile"]) == ("abc", "1.dir", "own")
    assert (curve_tags["git_commit"], curve_tags["profile"], curve_tags["phase"]) == ("abc", "test", "allocator")
    assert "pipeline_name" not in method_tags  # kedro-mlflow's own tags stay on the stage's run


# ---------------------------------------------------------------- a real evaluation run


def runs(project, query):
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = store.get_experiment_by_name("r2-micro")
    return store.search_runs([experiment.experiment_id], query, max_results=1000)


def stage_run(project, name: str):
    """The kedro-mlflow run of `kedro run --pipelines <name>` (a curve run may share its name)."""
    [run] = [r for r in runs(project, f"attributes.run_name = '{name}'") if "kedro_command" in r.data.tags]
    return run


def lock_hashes(project) -> dict[str, str]:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


@pytest.mark.slow
@pytest.mark.integration
def test_every_run_of_the_chain_says_what_produced_it(reproduced_project):
    """The evaluation run reproduced on the test parameters (`dvc repro`, without git): its tags
    against dvc.lock, its test split, and the same provenance on its method runs and on the
    training stages' runs."""
    locked = lock_hashes(reproduced_project)
    stage = stage_run(reproduced_project, "evaluation")
    tags = stage.data.tags
    assert (tags["git_commit"], tags["git_dirty"], tags["profile"]) == ("unknown", "unknown", "base")
    assert (tags["price_table"], tags["price_table_date"]) == ("micro-ladder-2026-11-27", "2026-11-27")
    assert tags["cpu_capability"] and tags["torch"].startswith("2.")
    assert tags["dvc.pool_models"] == locked["data/06_models/pool"]
    assert tags["dvc.decomposer_sft_model"] == locked["data/06_models/decomposer_sft"]
    assert tags["dvc.allocator_sft_model"] == locked["data/06_models/allocator_sft"]
    routers = {k for k in tags if k.startswith("dvc.") and k.endswith((".decomposer", ".allocator"))}
    assert {"dvc.round_2.allocator", "dvc.sweep_2.round_2.decomposer"} <= routers
    assert all(tags[k].endswith(".dir") for k in routers)

    [split] = stage.inputs.dataset_inputs
    assert (split.dataset.name, split.dataset.digest) == ("world_test (base)", locked["data/01_raw/world_test.parquet"])
    assert [(t.key, t.value) for t in split.tags] == [("mlflow.data.context", "test")]

    [method] = runs(reproduced_project, "tags.method = 'r2'")
    assert {k: method.data.tags[k] for k in tags if k.startswith("dvc.")} == {k: tags[k] for k in tags
                                                                             if k.startswith("dvc.")}
    for name in ("model_pool", "decomposer_sft", "rl_refinement"):
        run = stage_run(reproduced_project, name)
        assert run.data.tags["profile"] == "base" and run.data.tags["git_commit"] == "unknown", name
        # the price table where the stage reads the pool: SFT reads a table of labels only
        assert run.data.tags.get("price_table") == (None if name == "decomposer_sft" else tags["price_table"]), name
    refine = stage_run(reproduced_project, "rl_refinement")
    assert refine.data.tags["dvc.allocator_sft_model"] == locked["data/06_models/allocator_sft"]
    assert "train" in {i.tags[0].value for i in refine.inputs.dataset_inputs}


def test_outside_a_dvc_experiment_runs_log_to_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv(provenance.EXP_NAME, raising=False)
    monkeypatch.setenv(provenance.DVC_ROOT, str(tmp_path / "elsewhere"))  # `dvc repro` sets it too
    assert provenance.experiment_tags() == {}
    assert provenance.tracking_root(tmp_path) == tmp_path.resolve().as_posix()
    assert not provenance.in_temporary_copy(tmp_path)


def test_a_queued_experiment_logs_to_its_repository(monkeypatch, tmp_path):
    repo, copy = tmp_path / "repo", tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmp1"
    monkeypatch.setenv(provenance.EXP_NAME, "pool-seed-1")
    monkeypatch.setenv(provenance.EXP_BASELINE, "abc123")
    monkeypatch.setenv(provenance.DVC_ROOT, str(repo))
    assert provenance.experiment_tags() == {"dvc_exp": "pool-seed-1", "dvc_exp_baseline": "abc123"}
    assert provenance.tracking_root(copy) == repo.resolve().as_posix()
    assert provenance.in_temporary_copy(copy) and not provenance.in_temporary_copy(repo)


def test_an_experiments_stage_runs_nest_under_one_parent_run(client):
    tags = {"dvc_exp": "pool-seed-2", "git_commit": "c0ffee", "git_dirty": "true", "model_pool.seed": "2"}
    stages = []
    for stage in ("model_pool", "evaluation"):
        with mlflow.start_run(run_name=stage) as run:
            mlflow.set_tags(tags)
            stages.append((run.info.run_id, provenance.nest_in_experiment(mlflow.get_run(run.info.run_id), tags)))
    parents = {parent for _, parent in stages}
    assert len(parents) == 1 and None not in parents
    parent = client.get_run(parents.pop())
    assert parent.info.run_name == "pool-seed-2" and parent.info.status == "FINISHED"
    assert parent.data.tags["r2.role"] == provenance.EXPERIMENT_ROLE
    assert parent.data.tags["model_pool.seed"] == "2" and "git_dirty" not in parent.data.tags
    assert all(client.get_run(run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id for run_id, _ in stages)
    with mlflow.start_run(run_name="outside") as run:  # no experiment: left alone
        assert provenance.nest_in_experiment(mlflow.get_run(run.info.run_id), {"git_commit": "c0ffee"}) is None
