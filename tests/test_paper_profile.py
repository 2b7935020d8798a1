"""`conf/paper` validates without starting anything: parameters, catalog, registry, prices, the
accelerate file. Nothing here contacts an endpoint or loads a model."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import ClusterConfig
from accelerate.utils import DistributedType
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset

from r2_pipeline.params import ParameterError, validate_params
from r2_pipeline.pipeline_registry import register_pipelines
from r2_pipeline.pool.factory import ladder_order
from r2_pipeline.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).parents[1]
PAPER = ROOT / "conf" / "paper"
BENCHMARKS = {"p3", "scan", "math", "champ", "csqa", "musique"}


@pytest.fixture(scope="module")
def loader():
    return OmegaConfigLoader(conf_source=str(ROOT / "conf"), env="paper", **CONFIG_LOADER_ARGS)


@pytest.fixture(scope="module")
def params(loader) -> dict:
    return loader["parameters"]


def test_parameters_validate(params):
    validated = validate_params(params)
    assert {
        "pool",
        "model_pool",
        "data_generation",
        "decomposer_sft",
        "allocator_sft",
        "rl_refinement",
        "evaluation",
    } <= set(validated)


def test_parameter_files_are_keyed_by_pipeline_name():
    for path in PAPER.glob("parameters_*.yml"):
        assert list(yaml.safe_load(path.read_text())) == [path.stem.removeprefix("parameters_")]


def test_pool_is_nine_served_members_each_priced_with_date_and_source(params):
    pool, model_pool = params["pool"], params["model_pool"]
    assert len(pool["members"]) == 9
    assert model_pool["tiers"] == {}
    for name, spec in pool["members"].items():
        assert spec["backend"] == "openai", name
        assert spec["base_url"].startswith(("http://", "https://")), name
        assert spec["model"] and spec["api_key_env"] and spec["max_concurrency"] > 0, name
    for name in [*pool["members"], pool["router_member"]]:
        price = pool["prices"][name]
        datetime.date.fromisoformat(price["date"])
        assert len(price["source"]) > 20, name
    assert pool["cache_path"].startswith("data/paper/")


def test_members_named_elsewhere_are_in_the_pool(params):
    members = set(params["pool"]["members"])
    gen = params["data_generation"]
    named = [
        gen["teacher"]["member"],
        gen["decomposition"]["evaluation_member"],
        gen["allocation"]["baseline"],
        gen["allocation"]["reviewer"]["member"],
        params["evaluation"]["router"]["fallback"],
        params["rl_refinement"]["fallback"],
    ]
    assert set(named) <= members
    ladder = ladder_order(params["pool"])
    # the grouped search starts at the tiers the comment names, whatever a price update does
    assert [ladder[t] for t in gen["allocation"]["start_tiers"]] == ["qwen_0_5b", "qwen_7b", "qwen_72b"]
    assert params["pool"]["ladder"] == ladder


def test_evaluation_runs_the_six_benchmarks_with_200_questions(params):
    evaluation = params["evaluation"]
    assert set(evaluation["benchmarks"]) == BENCHMARKS
    assert all(spec["limit"] == 200 for spec in evaluation["benchmarks"].values())
    assert evaluation["experiment"] == "r2-paper"
    assert evaluation["sampling"]["max_new_tokens"] >= 512
    assert "routers" not in evaluation and params["rl_refinement"]["rounds"] >= 1  # the routers follow from rounds


def test_routers_train_lora_on_a_pretrained_backbone_on_gpus(params):
    for block in ("decomposer_sft", "allocator_sft"):
        settings = params[block]
        assert settings["backbone"]["kind"] == "pretrained"
        assert settings["lora"]["r"] > 0
        trainer = settings["trainer"]
        assert (trainer["bf16"], trainer["use_cpu"], trainer["report_to"]) == (True, False, "none")
    for phase in ("decomposer", "allocator"):
        trainer = params["rl_refinement"][phase]["trainer"]
        assert (trainer["bf16"], trainer["use_cpu"]) == (True, False)


def test_grpo_phases_roll_out_on_one_trl_vllm_server_apart_from_the_pool(loader, params):
    """Both phases sample on the `trl vllm-serve` server of endpoints.grpo_vllm: they train the same
    backbone, so the weights each pushes to it fit, and it is none of the pool's servers."""
    from urllib.parse import urlsplit

    server = loader["globals"]["endpoints"]["grpo_vllm"]
    for phase in ("decomposer", "allocator"):
        trainer = params["rl_refinement"][phase]["trainer"]
        assert (trainer["use_vllm"], trainer["vllm_mode"], trainer["vllm_server_base_url"]) == (True, "server", server)
    assert params["decomposer_sft"]["backbone"] == params["allocator_sft"]["backbone"]
    pool = {urlsplit(m["base_url"]).netloc for m in params["pool"]["members"].values() if "base_url" in m}
    assert urlsplit(server).netloc not in pool


def test_every_pipeline_dataset_resolves_in_the_paper_catalog(loader):
    catalog = DataCatalog.from_config(loader["catalog"])
    for name, pipeline in register_pipelines().items():
        for dataset in pipeline.datasets():
            if dataset.startswith("params:") or dataset == "parameters":
                continue
            resolved = catalog.get(dataset)
            assert resolved is not None and not isinstance(resolved, MemoryDataset), (
                f"{name}: {dataset}"
            )
            path = str(getattr(resolved, "_filepath", getattr(resolved, "_path", "data/paper/")))
            assert path.startswith("data/paper/"), f"{dataset} at {path} is outside data/paper"


def test_mlflow_experiment_is_r2_paper(loader):
    tracking = loader["mlflow"]["tracking"]
    assert tracking["experiment"]["name"] == "r2-paper"
    assert tracking["params"]["dict_params"]["flatten"] is True  # the whole block, not a stub


def test_accelerate_config_parses():
    config = ClusterConfig.from_yaml_file(PAPER / "accelerate.yaml")
    assert config.distributed_type == DistributedType.DEEPSPEED
    assert config.deepspeed_config["zero_stage"] == 2
    assert (config.mixed_precision, config.use_cpu) == ("bf16", False)
    assert config.num_processes > 1


@pytest.mark.parametrize(
    ("benchmark", "teacher", "evaluation", "read"),
    [
        # CSQA's "test" reads validation (its test labels are hidden): a validation teacher is the test set
        ("csqa", {"split": "validation", "limit": 1000}, {"limit": 200}, r"'tau/commonsense_qa' split 'validation'"),
        ("scan", {"split": "test"}, {"limit": 200}, r"'scan-tasks/scan-tasks:simple' split 'test'"),
        # an offline copy or a file ignores `split`: the same one on both sides is the same rows
        ("math", {"source": "offline", "split": "train"}, {"source": "offline", "limit": 200}, r"'offline'\)"),
    ],
)
def test_a_teacher_that_reads_evaluations_rows_is_refused(params, benchmark, teacher, evaluation, read):
    edited = copy.deepcopy(params)
    edited["data_generation"]["teacher"]["benchmarks"][benchmark] = teacher
    edited["evaluation"]["benchmarks"][benchmark] = evaluation
    with pytest.raises(ParameterError, match=rf"teacher\.benchmarks\.{benchmark} reads the rows evaluation reads \({read}"):
        validate_params(edited)


def test_a_teacher_on_another_split_or_source_is_accepted(params):
    edited = copy.deepcopy(params)
    edited["data_generation"]["teacher"]["benchmarks"]["csqa"] = {"split": "train"}
    edited["data_generation"]["teacher"]["benchmarks"]["math"] = {"source": "offline", "split": "train"}
    validate_params(edited)  # evaluation reads MATH from the hub, CSQA's validation split


def test_a_run_that_reads_files_not_in_place_stops_before_it_starts(params, tmp_path):
    """The backbone and P3 are put in place by hand (docs/paper_profile.md): without them the run
    stops at once, naming each key, instead of failing after the teacher was paid."""
    from r2_pipeline.hooks import LocalInputsHook

    blocks = ("decomposer_sft", "allocator_sft", "evaluation", "data_generation")
    catalog = DataCatalog({f"params:{b}": MemoryDataset(copy.deepcopy(params[b])) for b in blocks})
    with pytest.raises(ParameterError) as stopped:
        LocalInputsHook().before_pipeline_run({"project_path": tmp_path}, register_pipelines()["__default__"], catalog)
    message = str(stopped.value)
    backbone = params["decomposer_sft"]["backbone"]["path"]
    assert f"parameter decomposer_sft.backbone.path = {backbone!r}: no model folder there" in message
    assert f"parameter allocator_sft.backbone.path = {params['allocator_sft']['backbone']['path']!r}" in message
    assert "parameter evaluation.benchmarks.p3.source = 'data/paper/01_raw/p3_puzzles.json': no such file" in message
    assert "math" not in message  # a hub dataset is fetched by the run

    (tmp_path / backbone).mkdir(parents=True)
    (tmp_path / backbone / "config.json").write_text("{}")
    (tmp_path / "data/paper/01_raw").mkdir(parents=True)
    (tmp_path / "data/paper/01_raw/p3_puzzles.json").write_text("[]")
    LocalInputsHook().before_pipeline_run({"project_path": tmp_path}, register_pipelines()["__default__"], catalog)


def test_a_backbone_the_run_itself_writes_is_not_asked_for():
    from r2_pipeline.hooks import missing_inputs

    blocks = {"decomposer_sft": {"backbone": {"kind": "pretrained", "path": "data/06_models/backbones/smollm2"}}}
    assert missing_inputs(blocks, ["data/06_models/backbones"]) == []
    assert missing_inputs(blocks, ["data/06_models/pool"])[0].startswith("parameter decomposer_sft.backbone.path")
