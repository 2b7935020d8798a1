"""Thin glue over TRL's SFTTrainer: settings pass through unchanged to SFTConfig and LoraConfig."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..paths import from_root

logger = logging.getLogger(__name__)


def load_backbone(backbone: dict[str, Any], corpus: Sequence[str]):
    """(model, tokenizer): a tiny model built from a config, or a local Hugging Face folder."""
    from transformers import AutoModelForCausalLM

    from ..pool.local import load_tokenizer
    from .tiny import char_tokenizer, tiny_model, vocabulary, word_tokenizer

    spec = dict(backbone)
    kind = spec.pop("kind")
    if kind == "pretrained":
        spec["path"] = from_root(spec["path"])
        if not Path(spec["path"]).is_dir():  # never a hub name: the run would download, or fail offline
            raise FileNotFoundError(f"backbone.path {spec['path']!r} is not a folder; a pretrained backbone is a "
                                    "local Hugging Face folder (docs/paper_profile.md, 'Before a run')")
        tokenizer = load_tokenizer(spec["path"])
        tokenizer.padding_side = "right"
        return AutoModelForCausalLM.from_pretrained(spec["path"]), tokenizer
    if kind != "tiny":
        raise ValueError(f"unknown backbone kind {kind!r}; use 'tiny' or 'pretrained'")
    tokenizer_kind = spec.pop("tokenizer", "words")
    below = spec.pop("whole_numbers_below", None)
    if tokenizer_kind in {"words", "words_digits"}:
        split_digits = tokenizer_kind == "words_digits"
        tokenizer = word_tokenizer(vocabulary(corpus, split_digits=split_digits), split_digits=split_digits)
    elif tokenizer_kind == "chars":
        text = "".join(corpus)
        # numbers of several digits below `below` (frequent ones) as single tokens, the rest spelled
        whole = {run for run in re.findall(r"\d{2,}", text) if int(run) < below} if below is not None else set()
        tokenizer = char_tokenizer(set(text), whole)
    else:
        raise ValueError(f"unknown tokenizer {tokenizer_kind!r}; use 'words', 'words_digits' or 'chars'")
    return tiny_model(tokenizer, **spec), tokenizer


def sft_train(
    model,
    tokenizer,
    examples: list[dict[str, str]],
    trainer: dict[str, Any],
    lora: dict[str, Any] | None = None,
    eval_examples: list[dict[str, str]] | None = None,
):
    """Train on prompt/completion pairs; returns (model with LoRA merged, log history)."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(output_dir=out, **trainer)
        sft = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(examples),
            eval_dataset=Dataset.from_list(eval_examples) if eval_examples else None,
            processing_class=tokenizer,
            peft_config=LoraConfig(**lora) if lora else None,
        )
        return finish(sft, lora)


def finish(trainer, lora: dict | None):
    """Train, then hand back a plain model (LoRA merged) and the log history."""
    trainer.train()
    model = trainer.model.merge_and_unload() if lora else trainer.model
    model.eval()
    return model, list(trainer.state.log_history)
