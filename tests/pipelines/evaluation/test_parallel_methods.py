"""`evaluation.max_parallel_methods`: runs on different endpoint members evaluated at once give the
tables of evaluating every run in turn, row for row."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from r2_pipeline.params import ParameterError, validate_params
from r2_pipeline.pipelines.data_generation.nodes import generate_world
from r2_pipeline.pipelines.evaluation import nodes
from r2_pipeline.pipelines.evaluation.pipeline import create_pipeline
from r2_pipeline.pool.base import Completion
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.tasks import micro

CONF = Path(__file__).parents[3] / "conf"
WORLD = {"seed": 5, "sizes": {"train": 1, "validation": 1, "test": 8}, "min_steps": 1, "max_steps": 3,
         "bucket_weights": [1, 1, 1, 0, 0]}
SKILLS = {"a": (1, True), "b": (2, True), "c": (3, True), "local": (3, False)}  # member: (buckets mastered, endpoint)
PRICES = {m: {"input_per_m": float(k), "output_per_m": 2.0 * k, "date": "d", "source": "s"}
          for k, m in enumerate(SKILLS, 1)}
POOL = {"members": {m: {"backend": "transformers"} for m in SKILLS}, "prices": PRICES, "price_table": "test"}


class Member:
    """Right on the buckets it masters; `gate` (a Barrier) holds its first batch until the other
    party's has started: runs on two members evaluated at once pass it, runs in turn cannot."""

    def __init__(self, name: str, skill: int, concurrent: bool, gate=None):
        self.fingerprint, self.skill, self.concurrent, self.gate = name, skill, concurrent, gate

    def generate(self, prompts, sampling):
        if self.gate is not None:
            self.gate, gate = None, self.gate
            gate.wait(timeout=10)
        out = []
        for prompt in prompts:
            step = micro.parse_expression(f"{int(prompt[:3])} {prompt[3]} {int(prompt[4:7])}")
            right = step.bucket <= self.skill
            out.append(Completion(micro.member_answer(step) if right else "000", len(prompt), 4))
        return out


def evaluate(monkeypatch, workers: int, gate=None) -> dict[str, pd.DataFrame]:
    members = {m: Member(m, skill, endpoint, gate if m in ("a", "b") else None) for m, (skill, endpoint) in SKILLS.items()}
    built = ModelPool(members, PriceTable.from_config(PRICES))
    monkeypatch.setattr(nodes, "pool_from_params", lambda manifest, params: built)
    evaluation = {"benchmarks": {"micro": {}}, "experiment": "unused", "sampling": {"max_new_tokens": 4},
                  "methods": ["single"], "seeds": [0, 1], "max_parallel_methods": workers}
    inputs = {"world_test": generate_world({"world": WORLD})[2], "pool_manifest": {}, "params:pool": POOL,
              "params:evaluation": evaluation, "member_outcomes": None, "params:data_generation": {}}
    catalog = DataCatalog({name: MemoryDataset(data) for name, data in inputs.items()})
    pipeline = create_pipeline(routers={}).only_nodes("evaluate_methods_node")
    return {name: dataset.load() for name, dataset in SequentialRunner().run(pipeline, catalog).items()}


def test_runs_at_once_give_the_tables_of_runs_in_turn(monkeypatch):
    in_turn = evaluate(monkeypatch, workers=1)
    at_once = evaluate(monkeypatch, workers=4, gate=threading.Barrier(2))  # a and b evaluated together
    for name in ("evaluation_results", "evaluation_steps"):
        pd.testing.assert_frame_equal(at_once[name].drop(columns="method_seconds", errors="ignore"),
                                      in_turn[name].drop(columns="method_seconds", errors="ignore"))
    results = in_turn["evaluation_results"]
    assert list(dict.fromkeys(results["method"])) == ["single:a", "single:b", "single:c", "single:local"]
    assert results.groupby("method")["correct"].mean().is_monotonic_increasing  # the answers differ by member


def test_max_parallel_methods_is_a_positive_count():
    params = {}
    for path in (CONF / "base").glob("parameters_*.yml"):
        params.update(yaml.safe_load(path.read_text()))
    params["pool"]["cache_path"] = "data/cache/calls.sqlite"  # the ${globals:} resolver is Kedro's
    assert validate_params(params)["evaluation"].max_parallel_methods == 4
    params["evaluation"]["max_parallel_methods"] = 0
    with pytest.raises(ParameterError, match=r"evaluation\.max_parallel_methods = 0"):
        validate_params(params)
