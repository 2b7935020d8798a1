"""Benchmark helpers: oracle_floor's dev set (fresh questions, refused when the pipeline trained on
them) and confidence_cascade's readings on a hand-made frame."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from r2_pipeline.pipelines.data_generation.nodes import generate_world

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
WORLD = {"seed": 7, "sizes": {"train": 20, "validation": 3, "test": 5}, "extra_train": 0, "min_steps": 2,
         "max_steps": 4, "bucket_weights": [0.3, 0.25, 0.2, 0.15, 0.1]}


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def oracle_floor(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the benchmarks import each other by module name
    yield load("oracle_floor")
    for name in ("oracle_floor", "allocator_frontier", "confidence_cascade"):
        sys.modules.pop(name, None)


@pytest.fixture
def confidence_cascade(oracle_floor):
    return load("confidence_cascade")


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


def ladder_frame():
    """Two questions on a three-member ladder: q1's one step only c answers (a and b are sure, and
    agree, on the same wrong value); q2's first step b answers unsure, its second step every member."""
    ladder = ["a", "b", "c"]
    steps = pd.DataFrame({
        "id": ["q1", "q2", "q2"],
        "a": [False, False, True], "b": [False, True, True], "c": [True, True, True],
        "a_cost": [1.0, 1.0, 1.0], "b_cost": [10.0, 10.0, 10.0], "c_cost": [100.0, 100.0, 100.0],
    })
    conf = pd.DataFrame({
        "a": [0.99, 0.2, 0.99], "b": [0.99, 0.4, 0.99], "c": [1.0, 1.0, 1.0],
        "a_value": [7, 1, 5], "b_value": [7, 3, 5], "c_value": [9, 3, 5],
    })
    return steps, conf, ladder


def test_cascade_readings_match_the_pipelines_climb(confidence_cascade):
    steps, conf, ladder = ladder_frame()
    choice = ["c", "a", "a"]
    # nothing unsure below 0.1: the allocator's choice stands, and a's wrong answer costs q2
    assert confidence_cascade.cascade(steps, conf, ladder, choice, 0.1, "climb") == (0.5, 102 / 300, 0.0)
    # at 0.5, q2's first step climbs a -> b (0.4, unsure) -> c: right, and every call paid
    acc, cost, again = confidence_cascade.cascade(steps, conf, ladder, choice, 0.5, "climb")
    assert (acc, cost, again) == (1.0, (100 + 1 + 10 + 100 + 1) / 300, 1 / 3)
    # agree: b's unsure 3 is not a's 1, so it climbs as before; `top` skips b
    assert confidence_cascade.cascade(steps, conf, ladder, choice, 0.5, "agree") == (1.0, 212 / 300, 1 / 3)
    assert confidence_cascade.cascade(steps, conf, ladder, choice, 0.5, "top")[1] == (100 + 1 + 100 + 1) / 300
    # had b given a's value, the two would agree and b's answer stand, c never asked
    conf.loc[1, "b_value"] = 1
    assert confidence_cascade.cascade(steps, conf, ladder, choice, 0.5, "agree") == (1.0, 112 / 300, 1 / 3)
    assert confidence_cascade.cascade(steps, conf, ladder, choice, 0.5, "climb")[1] == 212 / 300


def test_the_steps_sent_to_the_top_and_whether_the_rung_below_would_do(confidence_cascade):
    steps, conf, ladder = ladder_frame()
    out = confidence_cascade.below_the_top(steps, conf, ladder, ["c", "a", "c"], [0.5, 0.995])
    # q1's step (a and b sure and agreeing on the wrong 7) and q2's second (both right, 5)
    assert out["steps"] == 2 and out["below_right"] == 0.5
    assert out["sure"] == [2, 0] and out["sure_right"][0] == 0.5 and math.isnan(out["sure_right"][1])
    assert out["agree"] == 2 and out["agree_right"] == 0.5
