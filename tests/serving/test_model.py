"""The router as an MLflow pyfunc model: it answers as evaluation answered for the final router
(same answers, traces, tokens and costs per question and seed), is registered per profile with the
best objective aliased `champion`, and holds no API key. Small fakes stand in for the pool and the
router's two models; tests/serving/test_mlflow_serve.py serves a router trained for real."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from kedro.config import OmegaConfigLoader

from r2_pipeline.methods import expand_methods
from r2_pipeline.pipelines.data_generation.nodes import generate_world
from r2_pipeline.pipelines.evaluation import nodes
from r2_pipeline.pipelines.evaluation.pipeline import create_pipeline
from r2_pipeline.pool.base import Completion
from r2_pipeline.serving import model as served
from r2_pipeline.serving.registry import RouterPackage, log_router, refuse_secrets
from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.micro.task import TASK

CONF = Path(__file__).parents[2] / "conf"
WORLD = {"seed": 5, "sizes": {"train": 1, "validation": 1, "test": 12}, "min_steps": 1, "max_steps": 3,
         "bucket_weights": [1, 1, 1, 0, 0]}
CHANCES = {"t1": {1: 0.9, 2: 0.3}, "t2": {1: 0.95, 2: 0.6, 3: 0.2}, "t3": {1: 1.0, 2: 0.9, 3: 0.5},
           "t4": {1: 1.0, 2: 1.0, 3: 0.8}, "t5": {1: 1.0, 2: 1.0, 3: 1.0}}
PRICES = {**{m: {"input_per_m": 10.0 ** k, "output_per_m": 10.0 ** k, "date": "2026-11-27", "source": "test"}
             for k, m in enumerate(CHANCES)},
          "router": {"input_per_m": 0.5, "output_per_m": 2.0, "date": "2026-11-27", "source": "test"}}
POOL = {"members": {m: {"backend": "transformers"} for m in CHANCES}, "prices": PRICES, "price_table": "test-prices",
        "router_member": "router"}
EVALUATION = {"benchmarks": {"micro": {}}, "experiment": "unused", "methods": [{"kind": "single", "member": "t5"}, "r2"],
              "router": {"fallback": "t5"}, "sampling": {"max_new_tokens": 4}, "seeds": [3, 4], "cost_lambda": 0.5}
SECRET = "sk-serving-test-0123456789abcdef"


class Decomposer:
    """Writes each test question's reference plan (its numbers cited as $k), nothing for others."""

    fingerprint = "decomposer"

    def __init__(self, examples: list[Example]):
        self.plans = {TASK.decomposer_prompt(e.question): TASK.format_plan(TASK.reference_subtasks(e), e.question)
                      for e in examples}

    def generate(self, prompts, sampling):
        return [Completion(self.plans.get(p, "I do not know"), len(p), 9) for p in prompts]


class Allocator:
    """Names a member by a hash of the subtask's prompt: every member gets some steps."""

    fingerprint = "allocator"

    def generate(self, prompts, sampling):
        return [Completion(f"t{1 + hashlib.sha256(p.encode()).digest()[0] % 5}", len(p), 2) for p in prompts]


@pytest.fixture
def world():
    return generate_world({"world": WORLD})[2]


@pytest.fixture
def fakes(world, chance_pool, monkeypatch, tmp_path):
    """The pool and the router's two models as fakes wherever evaluation and the model build them;
    the router's folders hold one file each (they are logged as they are)."""
    pool = chance_pool(CHANCES)
    examples = TASK.load(world, split="test")
    routers = {"decomposer": Decomposer(examples), "allocator": Allocator()}
    monkeypatch.setattr(nodes, "pool_from_params", lambda manifest, params: pool)
    monkeypatch.setattr(served, "pool_from_params", lambda manifest, params: pool)
    monkeypatch.setattr(nodes, "_local", lambda path: routers[Path(path).name])
    folders = []
    for name in routers:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        folders.append(str(tmp_path / name))
    return folders


@pytest.fixture
def evaluated(world, fakes):
    """evaluate_methods, summarize and package_router as the evaluation pipeline runs them."""
    results, _ = nodes.evaluate_methods(world, {}, POOL, EVALUATION, None, None, *fakes, routers=["r2"])
    metrics = nodes.summarize(results, POOL, EVALUATION, routers=["r2"])
    package = nodes.package_router(metrics, {}, POOL, EVALUATION, *fakes, routers=["r2"])
    return results[results["method"] == "r2"], package


def served_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Evaluation rows in the model's columns: pool tokens and cost apart from the router's."""
    return pd.DataFrame({
        "answer": rows["prediction"].fillna("").tolist(),
        "prompt_tokens": (rows["prompt_tokens"] - rows["router_prompt_tokens"]).tolist(),
        "completion_tokens": (rows["completion_tokens"] - rows["router_completion_tokens"]).tolist(),
        "cost_usd": rows["pool_cost_usd"].tolist(),
        "router_prompt_tokens": rows["router_prompt_tokens"].tolist(),
        "router_completion_tokens": rows["router_completion_tokens"].tolist(),
        "router_cost_usd": rows["router_cost_usd"].tolist(),
    })


def assert_same(answers: pd.DataFrame, rows: pd.DataFrame) -> None:
    expected = served_columns(rows)
    pd.testing.assert_frame_equal(answers[expected.columns].reset_index(drop=True), expected, check_dtype=False)
    members = [",".join(str(step["member"]) for step in json.loads(trace)) for trace in answers["trace"]]
    assert members == rows["members"].tolist()


def test_the_model_answers_as_evaluation_did_under_each_seed(world, evaluated):
    rows, package = evaluated
    router = served.ServedRouter(package.config, package.decomposer, package.allocator)
    assert router.seed == 3 and router.benchmarks == ["micro"]
    for seed in (3, 4):
        assert_same(router.answer(world["question"].tolist(), seed=seed), rows[rows["seed"] == seed])
    answers = router.answer(world["question"].tolist())
    assert list(answers.columns) == list(served.COLUMNS)
    assert (answers["answer"] != "").sum() >= 6 and answers["cost_usd"].gt(0).all()
    trace = json.loads(answers["trace"][0])
    assert trace and set(trace[0]) == {"subtask", "member", "answer"}
    # a question answered alone is answered as in the batch: draws depend on (seed, prompt) only
    one = router.answer(world["question"].tolist()[4:5])
    pd.testing.assert_frame_equal(one, answers.iloc[4:5].reset_index(drop=True))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An MLflow tracking store and model registry in a temporary folder, one for the module (each
    test registers its own model name): its folder."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("serving", artifact_location=str(folder / "mlruns")))
    yield folder
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def test_the_registered_champion_predicts_from_a_frame_or_a_mapping(world, evaluated, store):
    rows, package = evaluated
    version = log_router(package, served.registered_name("test"))
    assert served.registered_name("test") == "r2-router-test" and str(version.version) == "1"
    assert str(mlflow.MlflowClient().get_model_version_by_alias("r2-router-test", served.CHAMPION).version) == "1"
    model = mlflow.pyfunc.load_model(f"models:/r2-router-test@{served.CHAMPION}")
    signature = model.metadata.signature
    assert signature.inputs.input_names() == ["question"]
    assert signature.outputs.input_names() == list(served.COLUMNS)
    assert {p.name: p.default for p in signature.params.params} == {"seed": 3, "benchmark": "micro"}
    questions = world["question"].tolist()
    frame = model.predict(pd.DataFrame({"question": questions}))
    assert_same(frame, rows[rows["seed"] == 3])
    assert_same(model.predict(pd.DataFrame({"question": questions}), params={"seed": 4}), rows[rows["seed"] == 4])
    pd.testing.assert_frame_equal(model.predict({"question": questions}), frame)
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"missing inputs \['question'\]"):
        model.predict(pd.DataFrame({"q": questions}))


def test_the_champion_is_the_version_with_the_best_objective(evaluated, store):
    _, package = evaluated
    name, client, champions = served.registered_name("micro"), mlflow.MlflowClient(), []
    for objectives in ({"micro": 0.2}, {"micro": 0.1}, {}, {"micro": 0.3}, {"micro": 0.3}):
        log_router(RouterPackage(package.config, package.decomposer, package.allocator, objectives), name)
        champions.append(str(client.get_model_version_by_alias(name, served.CHAMPION).version))
    assert champions == ["1", "1", "1", "4", "4"]  # a tie keeps the champion; no objective never wins
    tags = client.get_model_version(name, "4").tags
    assert float(tags["objective"]) == 0.3 and tags["objective.micro"] == "0.3"
    assert (tags["cost_lambda"], tags["price_table"], tags["method"]) == ("0.5", "test-prices", "r2")
    assert client.get_model_version(name, "3").tags["objective"] == "none"


def test_a_queued_dvc_experiments_router_is_registered_but_never_champion(evaluated, store, monkeypatch, tmp_path):
    _, package = evaluated
    name, client = "r2-router-queued", mlflow.MlflowClient()
    log_router(RouterPackage(package.config, package.decomposer, package.allocator, {"micro": 0.1}), name)
    monkeypatch.setenv("DVC_EXP_NAME", "pool-seed-3")  # its stages run in a temporary copy of the repository
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repository"))
    version = log_router(RouterPackage(package.config, package.decomposer, package.allocator, {"micro": 0.9}), name)
    assert version.tags["dvc_exp"] == "pool-seed-3"
    assert str(client.get_model_version_by_alias(name, served.CHAMPION).version) == "1"


def test_the_evaluated_objective_is_the_final_routers(evaluated):
    rows, package = evaluated
    assert set(package.objectives) == {"micro"} and package.objective == package.objectives["micro"]
    assert package.config["evaluation"]["methods"] == [
        {"kind": "r2", "name": "r2", "router": "r2", "decoding": {"rule": "greedy"}}]


def test_no_api_key_reaches_the_logged_model(evaluated, store, monkeypatch, tmp_path, caplog):
    """A member's key is read from the variable its `api_key_env` names; one given outright as
    `api_key` is left out. Neither value is in any file of the model or of its run."""
    _, package = evaluated
    monkeypatch.setenv("R2_SERVING_TEST_KEY", SECRET)
    endpoint = {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "R2_SERVING_TEST_KEY"}
    pool = {**POOL, "members": {**POOL["members"], "api": endpoint, "inline": {**endpoint, "api_key": SECRET[::-1]}},
            "prices": {**PRICES, "api": PRICES["t5"], "inline": PRICES["t5"]}}
    method = expand_methods(["r2"], [], EVALUATION, ["r2"])[0]
    config = served.router_config(pool, {}, EVALUATION, method, str(tmp_path))
    assert config["pool"]["members"]["api"]["api_key_env"] == "R2_SERVING_TEST_KEY"
    assert "api_key" not in config["pool"]["members"]["inline"]
    assert "`api_key` is left out" in caplog.text and SECRET[::-1] not in caplog.text
    version = log_router(RouterPackage(config, package.decomposer, package.allocator, {"micro": 0.1}), "r2-router-key")
    model = Path(mlflow.artifacts.download_artifacts(version.source, dst_path=str(tmp_path / "model")))
    run = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="",
                                                   dst_path=str(tmp_path / "run")))
    files = [f for folder in (model, run) for f in folder.rglob("*") if f.is_file()]
    assert any(f.name == "router.json" for f in files)
    for file in [*files, store / "mlflow.db"]:
        data = file.read_bytes()
        assert SECRET.encode() not in data and SECRET[::-1].encode() not in data, file


def test_a_key_in_any_other_setting_stops_the_logging():
    pool = {"members": {"api": {"backend": "openai", "api_key_env": "R2_SERVING_TEST_KEY",
                                 "extra_body": {"token": SECRET}}}}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("R2_SERVING_TEST_KEY", SECRET)
        with pytest.raises(ValueError, match="holds an API key's value: give pool members `api_key_env`"):
            refuse_secrets(json.dumps(pool), pool)


@pytest.mark.parametrize("given", [pd.DataFrame({"question": ["a", "b"]}), pd.DataFrame({"question": [["a", "b"]]}),
                                   {"question": ["a", "b"]}, ["a", "b"]])
def test_questions_come_from_a_frame_a_mapping_or_a_list(given):
    assert served.questions_of(given) == ["a", "b"]


def test_a_frame_without_questions_is_refused():
    with pytest.raises(ValueError, match=r"needs a `question` column; it has \['q'\]"):
        served.questions_of(pd.DataFrame({"q": ["a"]}))


@pytest.mark.parametrize("env, name", [("base", "r2-router-micro"), ("test", "r2-router-test"),
                                       ("paper", "r2-router-paper")])
def test_each_profile_registers_its_router_under_its_own_name(env, name):
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env=env,
                               config_patterns={"globals": ["globals*"]})
    entry = loader["catalog"]["router_model"]
    assert entry["type"] == "r2_pipeline.serving.registry.RouterModelDataset"
    assert served.registered_name(entry["profile"]) == name
    assert yaml.safe_load((CONF / env / "globals.yml").read_text())["profile"] in name


def test_the_evaluation_pipeline_packages_the_final_router():
    node = next(n for n in create_pipeline().nodes if n.name == "package_router_node")
    assert node.inputs[-2:] == ["round_2.decomposer", "round_2.allocator"] and node.outputs == ["router_model"]
    assert not [n for n in create_pipeline(routers={}).nodes if n.name == "package_router_node"]
