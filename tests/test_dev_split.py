"""data_generation's dev split (`world_dev`): written beside the other splits, disjoint from them,
and drawn so that the other splits are the rows they are without it."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from r2_pipeline.params import validate_params
from r2_pipeline.pipelines.data_generation.nodes import generate_dev, generate_world
from r2_pipeline.pipelines.data_generation.pipeline import create_pipeline

WORLD = {"seed": 7, "sizes": {"train": 60, "validation": 10, "test": 20, "dev": 20}, "min_steps": 2, "max_steps": 4,
         "bucket_weights": [0.3, 0.25, 0.2, 0.15, 0.1]}
SPLITS = ("world_train", "world_validation", "world_test")
# sha256 of each split's CSV for WORLD, as generate_world wrote them before there was a dev split
DIGESTS = {"world_train": "abe322d35988e240", "world_validation": "c5738ac88a1d97e1", "world_test": "c29071fa14295fa1"}


def run_world(world: dict, tmp_path) -> dict[str, pd.DataFrame]:
    """The pipeline's world nodes, writing parquet files as the catalog does."""
    catalog = DataCatalog({"params:data_generation": MemoryDataset({"world": world}),
                           **{name: ParquetDataset(filepath=str(tmp_path / f"{name}.parquet"))
                              for name in (*SPLITS, "world_dev")}})
    SequentialRunner().run(create_pipeline().only_nodes("generate_world_node", "generate_dev_node"), catalog)
    return {name: pd.read_parquet(tmp_path / f"{name}.parquet") for name in (*SPLITS, "world_dev")}


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()[:16]


def test_data_generation_writes_the_dev_split_and_leaves_the_other_splits_as_they_were(tmp_path):
    written = run_world(WORLD, tmp_path)
    assert len(written["world_dev"]) == 20 and written["world_dev"]["id"].is_unique
    assert {name: digest(written[name]) for name in SPLITS} == DIGESTS
    for name, alone in zip(SPLITS, generate_world({"world": {**WORLD, "sizes": {**WORLD["sizes"], "dev": 0}}})):
        pd.testing.assert_frame_equal(written[name], alone)
    questions = set().union(*(set(written[name]["question"]) for name in SPLITS))
    assert not set(written["world_dev"]["question"]) & questions
    assert written["world_dev"]["question"].is_unique


@pytest.mark.parametrize("dedup", ["question", "problem"])
def test_the_dev_split_shares_no_question_or_problem_with_a_grown_training_split(dedup):
    """Extra training questions are in world_train, and the dev split is drawn around them; with
    `dedup: problem` not even a reworded problem is shared (a 2-step world, where rewordings are common)."""
    world = {**WORLD, "extra_train": 200, "dedup": dedup, "max_steps": 2, "bucket_weights": [1, 0, 0, 0, 0],
             "sizes": {**WORLD["sizes"], "dev": 300}}
    splits = generate_world({"world": world})
    dev = generate_dev(*splits, {"world": world})
    key = "subtasks" if dedup == "problem" else "question"
    assert len(dev) == 300 and dev[key].is_unique
    assert not set(dev[key]) & set().union(*(set(s[key]) for s in splits))
    assert not set(dev["id"]) & set().union(*(set(s["id"]) for s in splits))


def test_a_larger_dev_split_starts_with_the_smaller_one():
    splits = generate_world({"world": WORLD})
    small = generate_dev(*splits, {"world": WORLD})
    large = generate_dev(*splits, {"world": {**WORLD, "sizes": {**WORLD["sizes"], "dev": 50}}})
    pd.testing.assert_frame_equal(large.head(20), small)


def test_no_dev_split_is_an_empty_table_with_the_split_columns(tmp_path):
    written = run_world({**WORLD, "sizes": {**WORLD["sizes"], "dev": 0}}, tmp_path)
    assert written["world_dev"].empty and list(written["world_dev"].columns) == list(written["world_test"].columns)


def test_the_dev_size_is_checked_with_the_other_sizes():
    from r2_pipeline.params import ParameterError

    sizes = {"train": 1, "validation": 1, "test": 1}
    block = {"teacher": {"kind": "reference", "variants": 1},
             "decomposition": {"evaluation_member": "t1", "require_verified": False,
                               "weights": {"conciseness": 1, "practicality": 0, "coherence": 0}},
             "allocation": {"baseline": "t1", "alpha": 0.1, "thresholds": [0.9], "start_tiers": [0, 0]}}
    validate_params({"data_generation": {**block, "world": {**WORLD, "sizes": sizes}}})  # dev defaults to none
    with pytest.raises(ParameterError, match=r"data_generation\.world\.sizes\.dev = -1"):
        validate_params({"data_generation": {**block, "world": {**WORLD, "sizes": {**sizes, "dev": -1}}}})
