"""`accelerate launch` with two CPU processes, each a whole `kedro run --env test`, in a temporary
copy of the project: the pool and the router data, SFT of the decomposer and of the allocator, then
one GRPO round, in one launch (later nodes load what the main process saved earlier in the run).
Both processes finish; the main one alone writes the weights, the tables and the MLflow run (curves
and metrics logged once); the other leaves nothing, in the project or in the temporary folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
# `--cpu` would start one process (accelerate runs several CPU processes through MPI only); with
# `--multi_gpu` it starts them through torchrun, and `use_cpu: true` in conf/test's trainer blocks
# makes them a gloo group on CPU. Port 0: a free one, so launches beside this one do not collide.
LAUNCH = ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", "-m"]
PIPELINES = ["model_pool", "data_generation", "decomposer_sft", "allocator_sft", "rl_refinement"]
# everything the pool's ladder, the SFT curves and round 1 of the main router need; no other round
LAST_NODES = ["measure_ladder_node", "log_decomposer_curves_node", "log_allocator_curves_node",
              "round_1.log_decomposer_curves_node", "round_1.log_allocator_curves_node"]
DATA = Path("data/test")
CURVE_RUNS = {"decomposer_sft": DATA / "08_reporting/decomposer_sft_curves.csv",
              "allocator_sft": DATA / "08_reporting/allocator_sft_curves.csv",
              "round_1.decomposer": DATA / "08_reporting/rl/round_1_decomposer_curves.csv",
              "round_1.allocator": DATA / "08_reporting/rl/round_1_allocator_curves.csv"}


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """(project, the files the launch added, the temporary folder it was given, its log)."""
    project = tmp_path_factory.mktemp("multiprocess") / "r2"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".venv", ".git", "mlflow.db", "mlruns", "*.pyc",
                                                                 "data", ".viz"))
    tmp = tmp_path_factory.mktemp("tmp")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(project / "src"), "TMPDIR": str(tmp),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    before = files(project)
    done = subprocess.run([str(BIN / LAUNCH[0]), *LAUNCH[1:], "kedro", "run", "--env", "test", "--pipelines",
                           ",".join(PIPELINES), "--to-nodes", ",".join(LAST_NODES)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    return project, files(project) - before, tmp, log


def files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_both_processes_finish(launched):
    _, _, _, log = launched
    assert log.count("Pipeline execution completed") == 2


def test_the_main_process_writes_each_weights_folder_once(launched):
    project, new, _, _ = launched
    folders = {p.parent for p in new if p.name == "model.safetensors"}
    models = DATA / "06_models"
    assert folders == {*(models / f"pool/t{k}" for k in range(1, 6)), models / "decomposer_sft",
                       models / "allocator_sft", models / "rl/round_1/decomposer", models / "rl/round_1/allocator"}
    # no staging folder of a second writer beside them
    assert not [p for p in new if DATA in p.parents and any(part.startswith(".") for part in p.relative_to(DATA).parts)]


def test_the_other_process_leaves_no_file(launched):
    project, new, tmp, _ = launched
    # the outputs, the project's MLflow store, kedro-viz's run statistics and DVC's own state (the
    # main process hashes the models it read for the run's provenance); nothing else
    assert sorted(p for p in new if p.parts[0] not in {"data", "mlruns", ".viz"} and p.name != "mlflow.db"
                  and p.parts[:2] != (".dvc", "tmp")) == []
    assert {p.parts[:2] for p in new if p.parts[0] == "mlruns"} <= {("mlruns", "r2-micro-test")}
    # torchrun keeps its own (empty) log folders there; the processes leave no file of theirs
    assert not [p for p in tmp.rglob("*") if p.is_file()]


def test_one_mlflow_run_with_each_curve_and_metric_logged_once(launched):
    from mlflow.tracking import MlflowClient

    project, _, _, _ = launched
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiments = client.search_experiments()
    runs = client.search_runs([e.experiment_id for e in experiments])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and sorted(parents[0].info.run_name.split("+")) == sorted(PIPELINES)
    assert parents[0].info.status == "FINISHED"
    children = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert set(children) == set(CURVE_RUNS) and len(runs) == 1 + len(CURVE_RUNS)
    for name, curves in CURVE_RUNS.items():  # one point per curve row that holds the metric
        table = pd.read_csv(project / curves)
        for key in children[name].data.metrics:
            assert len(client.get_metric_history(children[name].info.run_id, key)) == table[key].notna().sum(), key
    ladder = [k for k in parents[0].data.metrics if k.startswith("ladder.")]
    assert ladder and all(len(client.get_metric_history(parents[0].info.run_id, k)) == 1 for k in ladder)
    artifacts = [a.path for a in client.list_artifacts(parents[0].info.run_id)]
    assert artifacts.count("pool_ladder.csv") == 1
