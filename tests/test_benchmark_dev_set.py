"""benchmarks/oracle_floor.py's dev set: fresh questions, refused when the pipeline trained on them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from r2_pipeline.pipelines.data_generation.nodes import generate_world

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
WORLD = {"seed": 7, "sizes": {"train": 20, "validation": 3, "test": 5}, "extra_train": 0, "min_steps": 2,
         "max_steps": 4, "bucket_weights": [0.3, 0.25, 0.2, 0.15, 0.1]}


@pytest.fixture
def oracle_floor(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import each other by module name
    spec = importlib.util.spec_from_file_location("oracle_floor", BENCHMARKS / "oracle_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("oracle_floor", None)


def project(root: Path, world: dict, trained_extra: int) -> Path:
    """conf/base says `world`; data/01_raw holds the training split of a run with `trained_extra`."""
    (root / "conf/base").mkdir(parents=True)
    (root / "conf/base/parameters_data_generation.yml").write_text(yaml.safe_dump({"data_generation": {"world": world}}))
    (root / "data/01_raw").mkdir(parents=True)
    train, _, _ = generate_world({"world": {**world, "extra_train": trained_extra}})
    train.to_parquet(root / "data/01_raw/world_train.parquet")
    return root


def test_dev_questions_are_drawn_after_every_split(oracle_floor, tmp_path):
    dev = oracle_floor.dev_world(project(tmp_path, WORLD, trained_extra=0), size=8)
    train, validation, test = generate_world({"world": WORLD})
    assert len(dev) == 8
    drawn = set(train["question"]) | set(validation["question"]) | set(test["question"])
    assert not set(dev["question"]) & drawn


def test_a_dev_set_the_pipeline_trained_on_is_refused(oracle_floor, tmp_path):
    # `kedro run --params data_generation.world.extra_train=8` trains on the 8 questions conf/base's
    # dev set would be
    root = project(tmp_path, WORLD, trained_extra=8)
    with pytest.raises(SystemExit, match=r"8 of the 8 dev questions are in .*world_train.parquet.*extra_train"):
        oracle_floor.dev_world(root, size=8)
    # with conf/base saying what the run used, the dev set moves past them
    (root / "conf/base/parameters_data_generation.yml").write_text(
        yaml.safe_dump({"data_generation": {"world": {**WORLD, "extra_train": 8}}}))
    assert len(oracle_floor.dev_world(root, size=8)) == 8


def test_no_training_split_on_disk_is_no_overlap(oracle_floor, tmp_path):
    root = project(tmp_path, WORLD, trained_extra=0)
    (root / "data/01_raw/world_train.parquet").unlink()
    assert len(oracle_floor.dev_world(root, size=4)) == 4
