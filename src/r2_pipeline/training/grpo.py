"""Thin glue over TRL's GRPOTrainer: settings pass through unchanged to GRPOConfig and LoraConfig."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import Any


def grpo_train(
    model_path: str,
    prompts: Sequence[str],
    reward_funcs: list[Callable],
    trainer: dict[str, Any],
    lora: dict[str, Any] | None = None,
):
    """GRPO from a saved model folder; returns (model with LoRA merged, tokenizer, log history)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from ..pool.local import load_tokenizer
    from .sft import finish

    tokenizer = load_tokenizer(model_path)  # left padding, the trained tokenizer itself
    model = AutoModelForCausalLM.from_pretrained(model_path)
    # a chat model was trained (fit_sft) and is served (the backend) through its chat template:
    # GRPO samples it the same way; the rewards read the message text back
    rows = [[{"role": "user", "content": p}] for p in prompts] if tokenizer.chat_template else list(prompts)
    with tempfile.TemporaryDirectory() as out:
        trainer_ = GRPOTrainer(
            model=model,
            reward_funcs=reward_funcs,
            args=GRPOConfig(output_dir=out, **trainer),
            train_dataset=Dataset.from_dict({"prompt": rows}),
            processing_class=tokenizer,
            peft_config=LoraConfig(**lora) if lora else None,
        )
        model, history = finish(trainer_, lora)
    return model, tokenizer, history
