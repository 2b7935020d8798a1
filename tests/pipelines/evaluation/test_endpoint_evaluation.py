"""A pool member switched from the local backend to an endpoint by configuration only gives the same
evaluation (issue 3's "done when"), and the preflight check fails fast on unreachable endpoints.
Both against a real `transformers serve` on 127.0.0.1 serving a trained micro tier."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from r2_pipeline.hooks import EndpointPreflightHook
from r2_pipeline.pipeline_registry import register_pipelines
from r2_pipeline.pipelines.data_generation.nodes import generate_world
from r2_pipeline.pipelines.evaluation.pipeline import create_pipeline
from r2_pipeline.pool.preflight import EndpointsUnreachable, check_endpoints
from r2_pipeline.training.ladder import train_tier
from r2_pipeline.training.tiny import save_model

PRICE = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "2026-11-27", "source": "test"}
WORLD = {
    "seed": 7,
    "sizes": {"train": 1, "validation": 1, "test": 16},
    "min_steps": 1,
    "max_steps": 3,
    "bucket_weights": [1, 0, 0, 0, 0],  # the tier is trained on bucket 1
}
SECRET = "sk-preflight-0123456789abcdef"


def _serving():
    """The pool tests' server helpers (tests/pool/conftest.py), imported by path, not copied."""
    path = Path(__file__).parents[2] / "pool" / "conftest.py"
    spec = importlib.util.spec_from_file_location("pool_serving", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


serving = _serving()


@pytest.fixture(scope="module")
def micro_tier(tmp_path_factory) -> str:
    """A tier trained enough to answer some bucket-1 steps (a quarter of WORLD's questions), so the
    two runs are compared on varied answers, not on one constant string. One torch thread: two
    contend with any other job on a 2-core machine and train ~10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, tokenizer, _ = train_tier(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            buckets=[1],
            steps=300,
            n_examples=4000,
            batch_size=64,
            learning_rate=6e-3,
            warmup_steps=10,
        )
        return str(save_model(model, tokenizer, tmp_path_factory.mktemp("tier") / "t1"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def server(micro_tier, tmp_path_factory):
    live = serving.TransformersServer(
        Path(micro_tier), tmp_path_factory.mktemp("serve") / "serve.log"
    )
    live.start()
    yield live
    live.kill()


def endpoint(server, model: str, **extra) -> dict:
    return {"backend": "openai", "base_url": f"{server.url}/v1", "model": model, **extra}


# ----- preflight -----


@pytest.mark.slow
def test_preflight_names_each_unreachable_member_and_its_url(micro_tier, monkeypatch):
    monkeypatch.setenv("PREFLIGHT_TEST_KEY", SECRET)
    dead = f"http://127.0.0.1:{serving.free_port()}/v1"
    pool = {
        "members": {
            "local": {"backend": "transformers", "path": micro_tier},
            "down_a": {"backend": "openai", "base_url": dead, "model": "m"},
            "down_b": {
                "backend": "openai",
                "base_url": dead,
                "model": "m",
                "api_key_env": "PREFLIGHT_TEST_KEY",
            },
        }
    }
    start = time.monotonic()
    with pytest.raises(EndpointsUnreachable) as caught:
        check_endpoints(pool)
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert "2 of 2 pool endpoints" in message
    for name in ("down_a", "down_b"):
        assert f"{name}: model 'm' at {dead}" in message
    assert "local" not in message and SECRET not in message


@pytest.mark.server
@pytest.mark.slow
def test_preflight_reports_a_model_the_server_does_not_serve(server):
    pool = {"members": {"t1": endpoint(server, "no-such-model")}}
    with pytest.raises(EndpointsUnreachable, match=r"t1: .*does not list this model"):
        check_endpoints(pool)


@pytest.mark.server
@pytest.mark.slow
def test_preflight_passes_against_a_live_server(server, micro_tier):
    pool = {"members": {"t1": endpoint(server, micro_tier), "t0": {"backend": "transformers"}}}
    assert check_endpoints(pool) == ["t1"]


def test_preflight_without_endpoint_members_does_nothing():
    assert check_endpoints({"members": {"t1": {"backend": "transformers"}}}) == []


def test_hook_checks_only_runs_that_read_the_pool():
    dead = f"http://127.0.0.1:{serving.free_port()}/v1"
    pool = {"members": {"big": {"backend": "openai", "base_url": dead, "model": "m"}}}
    catalog = DataCatalog({"params:pool": MemoryDataset(pool)})
    pipelines, hook = register_pipelines(), EndpointPreflightHook()
    hook.before_pipeline_run({}, pipelines["decomposer_sft"], catalog)  # SFT needs no endpoint
    with pytest.raises(EndpointsUnreachable, match=rf"big: model 'm' at {dead}"):
        hook.before_pipeline_run({}, pipelines["evaluation"], catalog)


def test_hook_reads_weights_from_the_project_root(tmp_path, monkeypatch):
    """`kedro run` from notebooks/: a member's relative `weights` folder is the project's."""
    (tmp_path / "project/data/t1").mkdir(parents=True)
    (tmp_path / "project/data/t1/config.json").write_text("{}")
    (tmp_path / "project/notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "project/notebooks")
    dead = f"http://127.0.0.1:{serving.free_port()}/v1"
    pool = {"members": {"t1": {"backend": "openai", "base_url": dead, "model": "t1", "weights": "data/t1"}}}
    catalog = DataCatalog({"params:pool": MemoryDataset(pool)})
    with pytest.raises(EndpointsUnreachable, match=rf"t1: model 't1' at {dead}") as failed:
        EndpointPreflightHook().before_pipeline_run({"project_path": str(tmp_path / "project")},
                                                    register_pipelines()["evaluation"], catalog)
    assert "not a folder" not in str(failed.value)  # the server is down; the weights were found


# ----- the same evaluation through the local backend and through the server -----


def evaluate(test_split: pd.DataFrame, member: dict) -> tuple[dict, pd.DataFrame]:
    """evaluate_methods + summarize of `single` on one member, through Kedro's SequentialRunner."""
    pool = {"members": {"t1": member}, "prices": {"t1": PRICE}, "price_table": "test"}
    evaluation = {
        "benchmarks": {"micro": {}},
        "experiment": "unused",
        "methods": ["single"],
        "sampling": {"max_new_tokens": 8},
        "seeds": [0],  # greedy: more seeds give the same answers
    }
    inputs = {
        "world_test": test_split,
        "pool_manifest": pool["members"],
        "params:pool": pool,  # no cache_path: both runs really generate
        "params:evaluation": evaluation,
        "member_outcomes": None, "params:data_generation": {},
    }
    catalog = DataCatalog({name: MemoryDataset(data) for name, data in inputs.items()})
    pipeline = create_pipeline(routers={}).only_nodes("evaluate_methods_node", "summarize_node")
    out = {
        name: dataset.load() for name, dataset in SequentialRunner().run(pipeline, catalog).items()
    }
    return out["metrics"], out["evaluation_steps"]


@pytest.mark.server
@pytest.mark.integration
def test_switching_a_member_to_an_endpoint_keeps_the_metrics(server, micro_tier):
    test_split = generate_world({"world": WORLD})[2]
    local_metrics, local_steps = evaluate(
        test_split, {"backend": "transformers", "path": micro_tier}
    )
    before = server.requests_logged()
    served = endpoint(server, micro_tier, style="completion", max_concurrency=4)
    served_metrics, served_steps = evaluate(test_split, served)

    assert server.requests_logged() - before == len(served_steps) > len(test_split)
    local, remote = local_metrics["micro"]["single:t1"], served_metrics["micro"]["single:t1"]
    for key in ("accuracy", "cost_usd", "prompt_tokens", "completion_tokens", "n", "estimated_token_steps"):
        assert local[key] == remote[key], key
    assert remote["estimated_token_steps"] == 0  # the server reports usage: measured, not estimated
    assert local["n"] == len(test_split) and local["accuracy"] > 0
    # call by call: the same answers, parsed values and token counts
    columns = ["id", "step", "prompt", "text", "value", "prompt_tokens", "completion_tokens"]
    pd.testing.assert_frame_equal(local_steps[columns], served_steps[columns])


@pytest.mark.server
@pytest.mark.integration
def test_baselines_run_with_the_pool_alone(tmp_path, server, micro_tier):
    """`evaluation_baselines` needs no router folder, world table input or outcome table: the
    paper profile's `single` baselines run against served members before any training."""
    table = tmp_path / "world_test.parquet"
    generate_world({"world": WORLD})[2].to_parquet(table)
    pool = {"members": {"t1": endpoint(server, micro_tier, style="completion", max_concurrency=4),
                        "t2": {"backend": "transformers", "path": micro_tier}},
            "prices": {"t1": PRICE, "t2": {**PRICE, "output_per_m": 4.0}}, "price_table": "test"}
    evaluation = {"benchmarks": {"micro": {"source": str(table)}}, "experiment": "unused",
                  "methods": ["single", "r2_sft", "r2"],
                  "sampling": {"max_new_tokens": 8}, "seeds": [0]}
    pipeline = register_pipelines()["evaluation_baselines"]
    assert pipeline.inputs() == {"pool_manifest", "params:pool", "params:evaluation"}
    catalog = DataCatalog({name: MemoryDataset(data) for name, data in
                           {"pool_manifest": pool["members"], "params:pool": pool, "params:evaluation": evaluation}.items()})
    out = SequentialRunner().run(pipeline.only_nodes("baselines.evaluate_baselines_node", "baselines.summarize_node"),
                                 catalog)
    metrics = out["baselines.metrics"].load()["micro"]
    assert set(metrics) == {"single:t1", "single:t2"}  # the router methods were skipped
    # the same tier served and local: the same answers, priced by each member's price
    assert metrics["single:t1"]["accuracy"] == metrics["single:t2"]["accuracy"] > 0
    assert metrics["single:t2"]["cost_usd"] > metrics["single:t1"]["cost_usd"] > 0


def test_baselines_refuse_a_block_without_a_baseline():
    from r2_pipeline.pipelines.evaluation.nodes import evaluate_baselines

    with pytest.raises(ValueError, match=r"no benchmark lists a method that runs before training.*run `evaluation`"):
        evaluate_baselines({}, {}, {"methods": ["r2_sft", "oracle"], "benchmarks": {"micro": {}}})
    # a benchmark whose own list has no baseline is skipped, not given the global list
    with pytest.raises(ValueError, match="no benchmark lists a method that runs before training"):
        evaluate_baselines({}, {}, {"methods": ["single"], "benchmarks": {"micro": {"methods": ["r2"]}}})
