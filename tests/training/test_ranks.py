"""A multi-process launch's pieces, one process at a time: which process is the main one, the
catalog that lets it alone write, the MLflow guard, the GRPO batch over several processes, and the
call cache shared by processes (a real one per process)."""

import subprocess
import sys
import time

import mlflow
import pandas as pd
import pytest
from kedro.io import MemoryDataset
from kedro_datasets.pandas import CSVDataset

from r2_pipeline import ranks
from r2_pipeline.datasets import MainProcessCatalog
from r2_pipeline.hooks import check_launch
from r2_pipeline.params import ParameterError
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.reporting.mlflow_runs import log_curves, log_method_runs
from r2_pipeline.training.grpo import launch_problems, prompts_per_generation


@pytest.fixture
def launch(monkeypatch):
    """A factory: this process becomes `rank` of `size` (as the launcher's environment says), with
    the waits recorded instead of made."""
    waits: list[str] = []

    def become(rank: int, size: int = 2) -> list[str]:
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(size))
        monkeypatch.setattr(ranks, "wait_for_everyone", lambda: waits.append("wait"))
        return waits

    return become


def test_without_a_launcher_the_process_is_the_main_one_and_never_waits(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ranks.is_main() and ranks.world_size() == 1 and ranks.rank() == 0
    ranks.wait_for_everyone()  # no process group to join: returns at once


def test_the_launchers_rank_decides_the_main_process(launch):
    launch(1, 4)
    assert not ranks.is_main() and ranks.world_size() == 4 and ranks.rank() == 1
    launch(0, 4)
    assert ranks.is_main()


def test_kedro_mlflow_is_among_the_plugins_a_process_can_leave_out():
    assert "kedro_mlflow" in {name.replace("-", "_") for name in ranks.plugin_names()}


def _catalog(tmp_path):
    return MainProcessCatalog({"table": CSVDataset(filepath=str(tmp_path / "table.csv")), "passed": MemoryDataset()})


@pytest.mark.parametrize("rank", [0, 1])
def test_only_the_main_process_writes_and_every_process_waits_for_the_write(tmp_path, launch, rank):
    waits = launch(rank)
    catalog = _catalog(tmp_path)
    catalog.save("table", pd.DataFrame({"a": [1]}))
    assert (tmp_path / "table.csv").exists() == (rank == 0)
    assert waits == ["wait"]


@pytest.mark.parametrize("rank", [0, 1])
def test_a_memory_dataset_is_each_process_own_and_needs_no_wait(tmp_path, launch, rank):
    waits = launch(rank)
    catalog = _catalog(tmp_path)
    catalog.save("passed", {"rank": rank})
    assert catalog.load("passed") == {"rank": rank} and waits == []


def test_with_one_process_the_catalog_is_kedros(tmp_path, launch):
    waits = launch(0, 1)
    _catalog(tmp_path).save("table", pd.DataFrame({"a": [1]}))
    assert (tmp_path / "table.csv").exists() and waits == []


@pytest.mark.parametrize(("rank", "order"), [(0, ["run", "wait"]), (1, ["wait", "run"])])
def test_the_main_process_goes_first(launch, rank, order):
    events = launch(rank)
    with ranks.main_process_first():
        events.append("run")
    assert events == order


def test_another_process_logs_no_mlflow_run(tmp_path, launch):
    launch(1)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        assert log_curves("decomposer_sft", [{"step": 1, "loss": 2.0}]) is None
        assert log_method_runs({"micro": {"r2": {"accuracy": 1.0}}}, "never") == {}
    finally:
        mlflow.set_tracking_uri(previous)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_the_generation_batch_counts_every_process():
    trainer = {"per_device_train_batch_size": 8, "num_generations": 4}
    assert prompts_per_generation(trainer) == 2
    assert prompts_per_generation(trainer, processes=2) == 4
    fixed = {**trainer, "generation_batch_size": 32}  # TRL's total over all processes
    assert prompts_per_generation(fixed, processes=2) == 8


@pytest.mark.parametrize(("trainer", "questions", "processes", "key"), [
    ({"per_device_train_batch_size": 8, "num_generations": 4}, 8, 2, None),
    ({"per_device_train_batch_size": 8, "num_generations": 4, "generation_batch_size": 24}, 64, 2,
     "trainer.generation_batch_size"),
    ({"per_device_train_batch_size": 3, "num_generations": 4}, 64, 2, "trainer.per_device_train_batch_size"),
    ({"per_device_train_batch_size": 3, "num_generations": 4}, 64, 4, None),  # 12 whole groups of 4
    ({"per_device_train_batch_size": 8, "num_generations": 4}, 4, 2, None),
    ({"per_device_train_batch_size": 8, "num_generations": 4}, 4, 4, "questions"),  # 8 prompts a batch
])
def test_launch_problems_name_the_key(trainer, questions, processes, key):
    problems = launch_problems(trainer, questions, processes)
    assert [p.split(":")[0] for p in problems] == ([key] if key else [])


def test_a_grpo_block_that_cannot_split_over_the_processes_is_refused_naming_its_key():
    phase = {"questions": 8, "trainer": {"per_device_train_batch_size": 8, "num_generations": 4}}
    block = {"decomposer": phase, "allocator": {**phase, "questions": 2}}
    check_launch(block, 1)  # one process: the parameter models' check
    with pytest.raises(ParameterError, match=r"for 2 processes:\n  parameter rl_refinement\.allocator\.questions: 2"):
        check_launch(block, 2)


# one process of a launch: open the new cache file when the others do, then write and read
WRITER = """
import sys, time
from r2_pipeline.pool.base import Completion
from r2_pipeline.pool.cache import CallCache
path, me, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
cache = CallCache(path)
for k in range(50):
    cache.put_many("m", [(f"{me}-{k}", Completion("x", 1, 1))])
    cache.get_many([f"{(me + 1) % 4}-{k}"])
cache.close()
"""


@pytest.mark.slow
def test_processes_share_one_new_call_cache(tmp_path):
    """The ranks of a launch open one new cache file together, and all write to it."""
    for attempt in range(5):  # the set-up race is a matter of timing: give it a few chances
        path = str(tmp_path / f"c{attempt}" / "calls.sqlite")
        start = time.time() + 1.0
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(i), str(start)], stderr=subprocess.PIPE,
                                    text=True) for i in range(4)]
        errors = [w.communicate(timeout=60)[1] for w in writers]
        assert [w.returncode for w in writers] == [0] * 4, errors
        keys = [f"{i}-{k}" for i in range(4) for k in range(50)]
        assert len(CallCache(path).get_many(keys)) == len(keys)
