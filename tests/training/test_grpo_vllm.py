"""GRPO rollouts on vLLM, without a GPU or vLLM: the vLLM keys of a phase's `trainer` block are
refused when TRL would ignore them or fail on them later, naming the key; the paper profile's
blocks reach GRPOConfig and TRL's vLLM client unchanged."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from r2_pipeline.params import ParameterError, validate_params
from r2_pipeline.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).parents[2]
DROP = object()  # a key the case removes from the block
VLLM_KEYS = ("use_vllm", "vllm_mode", "vllm_server_base_url", "vllm_server_timeout", "vllm_group_port")


@pytest.fixture(scope="module")
def paper() -> dict:
    return OmegaConfigLoader(conf_source=str(ROOT / "conf"), env="paper", **CONFIG_LOADER_ARGS)["parameters"]


def with_trainer(params: dict, phase: str, edit: dict) -> dict:
    params = copy.deepcopy(params)
    trainer = params["rl_refinement"][phase]["trainer"]
    for key, value in edit.items():
        if value is DROP:
            trainer.pop(key, None)
        else:
            trainer[key] = value
    return params


COLOCATE = {"vllm_mode": "colocate", "vllm_server_base_url": DROP, "vllm_server_timeout": DROP,
            "vllm_group_port": DROP}
NO_SERVER = {"vllm_server_base_url": DROP}


@pytest.mark.parametrize(("phase", "edit", "message"), [
    # server mode names its server
    ("allocator", NO_SERVER, r"rl_refinement\.allocator\.trainer\.vllm_server_base_url: vllm_mode 'server' needs "
                             r"the `trl vllm-serve` server of this phase"),
    ("allocator", {**NO_SERVER, "vllm_server_host": "127.0.0.1"},
     r"allocator\.trainer\.vllm_server_port: vllm_mode 'server' needs"),
    ("allocator", {**NO_SERVER, "vllm_server_port": 8010}, r"allocator\.trainer\.vllm_server_base_url: vllm_mode"),
    ("decomposer", {**NO_SERVER, "vllm_server_host": "http://127.0.0.1", "vllm_server_port": 8010},
     r"decomposer\.trainer\.vllm_server_host = 'http://127\.0\.0\.1': a host name or IPv4 address, without scheme"),
    ("decomposer", {**NO_SERVER, "vllm_server_host": "127.0.0.1:8010", "vllm_server_port": 8010},
     r"decomposer\.trainer\.vllm_server_host = '127\.0\.0\.1:8010'"),
    ("decomposer", {"vllm_server_host": "127.0.0.1", "vllm_server_port": 8010},
     r"trainer\.vllm_server_host = '127\.0\.0\.1': TRL ignores it when vllm_server_base_url is set.*\n.*"
     r"trainer\.vllm_server_port = 8010: TRL ignores it"),
    # the base URL is the server's root, over http(s)
    ("decomposer", {"vllm_server_base_url": "grpc://127.0.0.1:8010"},
     r"decomposer\.trainer\.vllm_server_base_url = 'grpc://127\.0\.0\.1:8010': URL scheme should be 'http' or"),
    ("decomposer", {"vllm_server_base_url": "127.0.0.1:8010"}, r"trainer\.vllm_server_base_url = '127\.0\.0\.1:8010'"),
    ("decomposer", {"vllm_server_base_url": "http://127.0.0.1:8010/v1"},
     r"trainer\.vllm_server_base_url = 'http://127\.0\.0\.1:8010/v1': the server's root URL.*without `/v1`"),
    ("decomposer", {"vllm_server_base_url": "http://127.0.0.1:8010/"}, r"without `/v1` or a trailing slash"),
    # the mode is one of TRL's, and each mode's keys go with it
    ("decomposer", {"vllm_mode": "remote"},
     r"decomposer\.trainer\.vllm_mode = 'remote': Input should be 'server' or 'colocate'"),
    ("allocator", {"vllm_gpu_memory_utilization": 0.5},
     r"allocator\.trainer\.vllm_gpu_memory_utilization = 0\.5: applies to vllm_mode 'colocate' only.*"
     r"--gpu_memory_utilization"),
    ("allocator", {"vllm_tensor_parallel_size": 2}, r"trainer\.vllm_tensor_parallel_size = 2: applies to vllm_mode "
                                                    r"'colocate' only.*--tensor_parallel_size"),
    ("allocator", {"vllm_enable_sleep_mode": True}, r"trainer\.vllm_enable_sleep_mode = True: applies to vllm_mode"),
    ("allocator", {"vllm_mode": "colocate"},
     r"trainer\.vllm_server_base_url = 'http://127\.0\.0\.1:8010': applies to vllm_mode 'server' only.*\n.*"
     r"trainer\.vllm_server_timeout = 240: applies.*\n.*trainer\.vllm_group_port = 51216: applies"),
    ("allocator", {**COLOCATE, "vllm_max_model_length": 8},
     r"trainer\.vllm_max_model_length = 8: must exceed max_completion_length 8"),
    # vLLM on GPUs, and only with use_vllm
    ("decomposer", {"use_cpu": True}, r"decomposer\.trainer\.use_vllm = True: vLLM generates on GPUs"),
    ("decomposer", {"use_vllm": False},
     r"decomposer\.trainer\.vllm_group_port = 51216: TRL reads vLLM keys only with use_vllm: true"),
    ("decomposer", {"use_vllm": DROP}, r"decomposer\.trainer\.vllm_mode = 'server': TRL reads vLLM keys only"),
    ("decomposer", {"use_vllm": "yes"}, r"decomposer\.trainer\.use_vllm = 'yes': Input should be a valid boolean"),
    ("decomposer", {"cache_implementation": "static"},
     r"trainer\.cache_implementation = 'static': applies to transformers generation"),
    # values as TRL uses them
    ("decomposer", {"vllm_server_timeout": 0}, r"trainer\.vllm_server_timeout = 0: Input should be greater than 0"),
    ("decomposer", {"vllm_group_port": "51216"}, r"trainer\.vllm_group_port = '51216': Input should be a valid integer"),
    ("decomposer", {"vllm_group_port": 70000}, r"trainer\.vllm_group_port = 70000: Input should be less than"),
    ("allocator", {**COLOCATE, "vllm_gpu_memory_utilization": 1.5},
     r"trainer\.vllm_gpu_memory_utilization = 1\.5: Input should be less than or equal to 1"),
    ("allocator", {**COLOCATE, "vllm_model_impl": "auto"}, r"trainer\.vllm_model_impl = 'auto': Input should be"),
    ("decomposer", {"vllm_importance_sampling_mode": "tokens"},
     r"trainer\.vllm_importance_sampling_mode = 'tokens': Input should be 'token_truncate'"),
    ("decomposer", {"vllm_importance_sampling_clip_min": 4.0},
     r"trainer\.vllm_importance_sampling_clip_min = 4\.0: must be below vllm_importance_sampling_clip_max 3\.0"),
    # a misspelt key is reported as such, not as a missing server
    ("decomposer", {**NO_SERVER, "vllm_sever_base_url": "http://127.0.0.1:8010"},
     r"rl_refinement\.decomposer: trainer has keys that are not GRPOConfig fields: \['vllm_sever_base_url'\]"),
])
def test_an_inconsistent_vllm_set_is_refused_naming_the_key(paper, phase, edit, message):
    with pytest.raises(ParameterError, match=message):
        validate_params(with_trainer(paper, phase, edit))


@pytest.mark.parametrize("edit", [
    {},
    {**NO_SERVER, "vllm_server_host": "gpu-node-2", "vllm_server_port": 8010},
    {"vllm_server_base_url": "https://gpu-node-2.example/grpo"},  # behind a proxy, under a path
    {"vllm_server_timeout": DROP, "vllm_group_port": DROP},  # TRL's defaults
    {"vllm_structured_outputs_regex": "t[0-9]+", "vllm_importance_sampling_correction": False},
    COLOCATE,
    {**COLOCATE, "vllm_mode": DROP},  # colocate is TRL's default mode
    {**COLOCATE, "vllm_gpu_memory_utilization": 0.3, "vllm_tensor_parallel_size": 1, "vllm_max_model_length": 1024,
     "vllm_enable_sleep_mode": True, "vllm_model_impl": "transformers"},
    {key: DROP for key in VLLM_KEYS},  # transformers generation
    {**{key: DROP for key in VLLM_KEYS}, "use_vllm": False, "cache_implementation": "static"},
])
def test_what_trl_accepts_and_uses_is_accepted(paper, edit):
    assert validate_params(with_trainer(paper, "decomposer", edit))


def test_the_paper_blocks_reach_grpo_config_unchanged(paper, monkeypatch, tmp_path):
    """GRPOConfig(output_dir=..., **trainer), as training/grpo.py builds it. This machine may have no
    GPU, which bf16 needs: the probe answers for the GPU node that runs the stage."""
    from trl import GRPOConfig

    monkeypatch.setattr("transformers.training_args.is_torch_bf16_gpu_available", lambda: True)
    for phase in ("decomposer", "allocator"):
        trainer = paper["rl_refinement"][phase]["trainer"]
        config = GRPOConfig(output_dir=str(tmp_path), **trainer)
        assert {key: getattr(config, key) for key in VLLM_KEYS} == {key: trainer[key] for key in VLLM_KEYS}
        assert (config.use_vllm, config.vllm_mode, config.vllm_server_base_url) == (True, "server",
                                                                                 "http://127.0.0.1:8010")


class Reached(Exception):
    """TRL's trainer opened its vLLM client: what it passed is recorded."""


def test_the_trainer_connects_to_the_phase_server(paper, monkeypatch, tmp_path):
    """grpo_train with a paper phase's vLLM keys hands TRL's vLLM client that phase's server URL,
    weight-sync port and timeout. The client is replaced (vLLM is not installed here, and its weight
    sync needs CUDA); the trainer runs on the CPU, the rest of the block as the paper has it."""
    from trl.generation import vllm_generation

    from r2_pipeline.training.grpo import grpo_train
    from r2_pipeline.training.sft import load_backbone
    from r2_pipeline.training.tiny import save_model

    received = {}

    def client(**kwargs):
        received.update(kwargs)
        raise Reached

    monkeypatch.setattr(vllm_generation, "is_vllm_available", lambda *args, **kwargs: True)
    monkeypatch.setattr(vllm_generation, "VLLMClient", client)
    backbone = {"kind": "tiny", "architecture": "llama", "hidden_size": 16, "num_hidden_layers": 1}
    folder = save_model(*load_backbone(backbone, ["plan the steps"]), tmp_path / "router")
    trainer = {**paper["rl_refinement"]["allocator"]["trainer"], "use_cpu": True, "bf16": False,
               "gradient_checkpointing": False, "dataloader_num_workers": 0}
    with pytest.raises(Reached):
        grpo_train(str(folder), ["plan the steps"] * 4, [lambda completions, **_: [0.0] * len(completions)], trainer)
    assert received == {"base_url": "http://127.0.0.1:8010", "group_port": 51216, "connection_timeout": 240}


def test_each_phase_closes_its_weight_sync_group():
    """A run trains several GRPO phases in one process: each one's group to the server is closed
    when it ends, not at exit."""
    from types import SimpleNamespace

    from r2_pipeline.training.grpo import release_vllm

    closed = []
    client = SimpleNamespace(close_communicator=lambda: closed.append(True))
    release_vllm(SimpleNamespace(vllm_generation=SimpleNamespace(vllm_client=client)))
    release_vllm(SimpleNamespace())  # generation in-process: nothing to close
    assert closed == [True]
