"""VLLMBackend's adapter logic against a fake `vllm` module (the real engine needs a GPU)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.pool.local import folder_fingerprint
from r2_pipeline.pool.pool import ModelPool, make_backend
from r2_pipeline.pool.prices import Price, PriceTable
from r2_pipeline.pool.vllm_backend import VLLMBackend, to_vllm_sampling, vllm_fingerprint


@dataclass
class Logprob:
    logprob: float


@dataclass
class CompletionOutput:
    text: str
    token_ids: list[int]
    logprobs: list[dict[int, Logprob]] | None


@dataclass
class RequestOutput:
    prompt: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


@dataclass
class FakeLLM:
    """Answers with the prompt reversed, one token per character, like a tiny engine would."""

    model: str
    kwargs: dict = field(default_factory=dict)
    calls: list = field(default_factory=list)

    def __init__(self, model: str, **kwargs):
        self.model, self.kwargs, self.calls = model, kwargs, []

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append(("generate", prompts, params))
        return [self._answer(p, params) for p in prompts]

    def chat(self, conversations, params, use_tqdm=True):
        self.calls.append(("chat", conversations, params))
        return [self._answer(c[-1]["content"], params) for c in conversations]

    def _answer(self, prompt: str, params) -> RequestOutput:
        text = prompt[::-1][: params.max_tokens]
        ids = [ord(c) for c in text]
        logprobs = None
        if params.logprobs is not None:  # the chosen token plus a runner-up at every position
            logprobs = [{t: Logprob(-0.5 * (i + 1)), 0: Logprob(-9.0)} for i, t in enumerate(ids)]
        return RequestOutput(
            prompt, list(range(len(prompt) + 1)), [CompletionOutput(text, ids, logprobs)]
        )


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = FakeSamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    return module


def test_sampling_maps_to_vllm_params(fake_vllm):
    greedy = to_vllm_sampling(fake_vllm, SamplingParams(max_new_tokens=7, top_p=0.5))
    assert greedy.kwargs == {
        "n": 1,
        "max_tokens": 7,
        "temperature": 0.0,
        "stop": None,
        "logprobs": None,
    }
    sampled = to_vllm_sampling(
        fake_vllm, SamplingParams(temperature=0.8, top_p=0.9, seed=4, stop=("\n",), logprobs=True)
    )
    assert sampled.kwargs == {
        "n": 1,
        "max_tokens": 16,
        "temperature": 0.8,
        "stop": ["\n"],
        "logprobs": 1,
        "top_p": 0.9,
        "seed": 4,
    }


def test_outputs_become_completions(fake_vllm):
    backend = VLLMBackend("org/model", gpu_memory_utilization=0.5)
    assert backend.llm.kwargs == {"gpu_memory_utilization": 0.5}
    out = backend.generate(["abc", "hello"], SamplingParams(max_new_tokens=4, logprobs=True))
    assert [(c.text, c.prompt_tokens, c.completion_tokens) for c in out] == [
        ("cba", 4, 3),
        ("olle", 6, 4),
    ]
    assert out[0].token_logprobs == [-0.5, -1.0, -1.5] and not out[0].estimated_tokens
    assert backend.generate(["abc"], SamplingParams())[0].token_logprobs is None
    assert backend.generate([], SamplingParams()) == []


def test_chat_template_goes_through_llm_chat(fake_vllm):
    backend = VLLMBackend("org/model", chat_template=True)
    [out] = backend.generate(["abc"], SamplingParams())
    kind, conversations, _ = backend.llm.calls[-1]
    assert (
        kind == "chat"
        and conversations == [[{"role": "user", "content": "abc"}]]
        and out.text == "cba"
    )


def test_fingerprint_follows_the_weights_not_memory_settings(tmp_path):
    base = vllm_fingerprint("org/model", {})
    assert base == vllm_fingerprint("org/model", {"gpu_memory_utilization": 0.9})
    assert base != vllm_fingerprint("org/model", {"revision": "v2"})
    (tmp_path / "config.json").write_text("{}")
    before = vllm_fingerprint(str(tmp_path), {})
    (tmp_path / "config.json").write_text('{"retrained": true}')
    assert vllm_fingerprint(str(tmp_path), {}) != before  # a local folder hashes its files


def test_fingerprint_follows_the_settings_that_change_a_local_folders_answers(tmp_path):
    """Flipping the chat template, the dtype or the quantization must not be answered from the cache
    of the old setting; nor may a transformers member on the same folder share vLLM's answers."""
    (tmp_path / "config.json").write_text("{}")
    folder = str(tmp_path)
    keys = {vllm_fingerprint(folder, {}), vllm_fingerprint(folder, {}, chat_template=True),
            vllm_fingerprint(folder, {"dtype": "float32"}), vllm_fingerprint(folder, {"quantization": "fp8"}),
            folder_fingerprint(folder)}
    assert len(keys) == 5
    assert vllm_fingerprint(folder, {"gpu_memory_utilization": 0.5}) == vllm_fingerprint(folder, {})


def test_vllm_is_imported_only_when_a_member_uses_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if the extra were not installed
    with pytest.raises(ImportError):
        make_backend("vllm", model="org/model")


def test_pool_caches_vllm_answers(fake_vllm, tmp_path):
    backend = make_backend("vllm", model="org/model")
    table = PriceTable({"big": Price(0.2, 0.2, "2026-01-01", "gpu-hour estimate")})
    pool = ModelPool({"big": backend}, table, CallCache(tmp_path / "calls.sqlite"))
    first = pool.generate("big", ["abc", "de"], SamplingParams())
    second = pool.generate("big", ["abc", "de"], SamplingParams())
    assert [c.text for c in second] == [c.text for c in first] == ["cba", "ed"]
    assert len(backend.llm.calls) == 1 and all(c.cached for c in second)


def test_a_relative_local_vllm_folder_resolves_under_the_project_root_and_a_hub_id_is_kept(
        fake_vllm, tmp_path, monkeypatch):
    from r2_pipeline.paths import ROOT_ENV
    from r2_pipeline.pool.factory import build_pool

    (tmp_path / "models/big").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    price = {"input_per_m": 1.0, "output_per_m": 1.0, "date": "d", "source": "s"}
    pool = build_pool({"local": {"backend": "vllm", "model": "models/big"},
                       "hub": {"backend": "vllm", "model": "org/model"}}, {"local": price, "hub": price})
    assert pool.backends["local"].llm.model == str(tmp_path / "models/big")
    assert pool.backends["hub"].llm.model == "org/model"
