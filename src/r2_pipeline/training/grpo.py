"""Thin glue over TRL's GRPOTrainer: settings pass through unchanged to GRPOConfig and LoraConfig."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from typing import Any


def generation_batch(trainer: dict, processes: int = 1) -> int:
    """Completions in one GRPO generation batch over all `processes` of a launch, by TRL's rule:
    generation_batch_size, else per_device_train_batch_size x processes x steps_per_generation
    (which defaults to gradient_accumulation_steps)."""
    if trainer.get("generation_batch_size") is not None:
        return trainer["generation_batch_size"]
    steps = trainer.get("steps_per_generation") or trainer.get("gradient_accumulation_steps", 1)
    return trainer.get("per_device_train_batch_size", 8) * processes * steps


def prompts_per_generation(trainer: dict, processes: int = 1) -> int:
    """Distinct prompts in one GRPO generation batch: TRL's sampler drops a last chunk with fewer, so
    a phase with fewer prompts trains nothing."""
    return generation_batch(trainer, processes) // trainer.get("num_generations", 8)


def launch_problems(trainer: dict, questions: int, processes: int) -> list[str]:
    """What keeps a GRPO phase (its trainer block and its `questions`) from training under
    `processes` processes, by TRL's rules for the batch over all of them; each problem starts with
    its key in the phase's block."""
    batch, group = trainer.get("per_device_train_batch_size", 8), trainer.get("num_generations", 8)
    everyone = f"per_device_train_batch_size {batch} x {processes} processes"
    given = trainer.get("generation_batch_size")
    if given is not None and given % (batch * processes):
        return [f"trainer.generation_batch_size: {given} is not a multiple of {everyone}"]
    generation = generation_batch(trainer, processes)
    if generation % group:
        return [f"trainer.per_device_train_batch_size: the generation batch ({everyone} x steps per generation "
                f"= {generation}) is not a multiple of num_generations {group}"]
    if questions < generation // group:
        return [f"questions: {questions}, and one generation batch over {processes} processes takes "
                f"{generation // group} distinct prompts; TRL would sample none and the phase would train nothing"]
    return []


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
        trainer_ = positioned(GRPOTrainer)(
            model=model,
            reward_funcs=reward_funcs,
            args=GRPOConfig(output_dir=out, **trainer),
            train_dataset=Dataset.from_dict({"prompt": rows}),
            processing_class=tokenizer,
            peft_config=LoraConfig(**lora) if lora else None,
        )
        try:
            model, history = finish(trainer_, lora)
        finally:
            release_vllm(trainer_)
    return model, tokenizer, history


def release_vllm(trainer) -> None:
    """TRL's client opens a weight-sync group to the `trl vllm-serve` server for each trainer and
    closes it only when the process exits; every GRPO phase of one run builds a trainer of its own,
    so each closes its group when it ends, and the next phase opens a fresh one."""
    client = getattr(getattr(trainer, "vllm_generation", None), "vllm_client", None)
    if client is not None:
        client.close_communicator()


def positioned(trainer_class):
    """`trainer_class` (TRL's GRPOTrainer) scoring completions with position ids counted from each
    row's first real token. TRL left-pads the prompts and calls the policy and the reference model
    without position ids, so a model with learned absolute positions (GPT-2, the micro allocator)
    numbers the padding too: the log-probabilities, KL and gradient then belong to a context the
    model never sees when it samples (generate counts positions from the attention mask), is
    trained (SFT pads on the right) or serves. A rotary model (Llama) is unaffected either way."""

    class Positioned(trainer_class):
        def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
            handle = model.register_forward_pre_hook(with_positions, with_kwargs=True)
            try:
                return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
            finally:
                handle.remove()

    Positioned.__name__ = Positioned.__qualname__ = f"Positioned{trainer_class.__name__}"
    return Positioned


def with_positions(module, args, kwargs):
    """Forward pre-hook: position ids from the attention mask when the call passes none (the last
    `input_ids` columns of them, so a cached decoding step gets its own)."""
    mask, ids = kwargs.get("attention_mask"), kwargs.get("input_ids")
    if mask is None or ids is None or kwargs.get("position_ids") is not None:
        return None
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
    return args, {**kwargs, "position_ids": positions}
