"""vLLM's offline engine (`vllm.LLM`) as a pool member; `vllm` is imported only when one is built."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Completion, SamplingParams
from .local import folder_fingerprint

# LLM arguments that change which weights answer (and so the cache key); memory knobs do not
IDENTITY_KWARGS = ("revision", "tokenizer", "tokenizer_revision", "quantization", "dtype")


def vllm_fingerprint(model: str, llm_kwargs: Mapping[str, Any], chat_template: bool = False) -> str:
    """The weights (a local folder's own hash, else the hub id) with the settings that change what
    they write: the arguments that pick or cast weights, and the chat template. A local folder's key
    is never a transformers member's on the same folder: vLLM reads it its own way (dtype `auto`,
    the tokenizer's special tokens)."""
    identity = {k: str(llm_kwargs[k]) for k in IDENTITY_KWARGS if k in llm_kwargs}
    if chat_template:
        identity["chat_template"] = "true"
    weights = {"folder": folder_fingerprint(model)} if Path(model).is_dir() else {"model": model}
    payload = json.dumps({**weights, **identity}, sort_keys=True)
    return "vllm-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def to_vllm_sampling(vllm: Any, sampling: SamplingParams) -> Any:
    """The pool's SamplingParams as vLLM's; one sample per prompt, as every other backend gives."""
    kwargs: dict[str, Any] = {
        "n": 1,
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature if not sampling.greedy else 0.0,
        "stop": list(sampling.stop) or None,
        "logprobs": max(1, sampling.top_logprobs) if sampling.logprobs or sampling.top_logprobs else None,
    }
    if not sampling.greedy:
        kwargs.update(top_p=sampling.top_p, seed=sampling.seed)
    return vllm.SamplingParams(**kwargs)


def to_completion(output: Any, want_logprobs: bool, top_logprobs: int = 0) -> Completion:
    """One vLLM RequestOutput as a Completion, counting tokens from the ids the engine used."""
    sample = output.outputs[0]
    token_ids = list(sample.token_ids)
    logprobs = top = None
    if want_logprobs and sample.logprobs is not None:
        # each position maps token id -> Logprob for the top-k plus the chosen token
        logprobs = [float(sample.logprobs[i][tok].logprob) for i, tok in enumerate(token_ids)]
    if top_logprobs and sample.logprobs is not None:
        top = [
            {str(lp.decoded_token): float(lp.logprob)
             for lp in sorted(position.values(), key=lambda lp: -lp.logprob)[:top_logprobs]}
            for position in sample.logprobs
        ]
    return Completion(
        text=sample.text,
        prompt_tokens=len(output.prompt_token_ids or []),
        completion_tokens=len(token_ids),
        token_logprobs=logprobs,
        top_logprobs=top,
    )


class VLLMBackend:
    """Batches go to `vllm.LLM` whole: the engine schedules them itself, far faster than HTTP calls."""

    def __init__(
        self,
        model: str,
        chat_template: bool = False,
        fingerprint: str | None = None,
        **llm_kwargs: Any,
    ):
        import vllm  # noqa: PLC0415  (the optional `vllm` extra: only members that use it need it)

        self._vllm = vllm
        self.model = model
        self.chat_template = chat_template
        self.llm = vllm.LLM(model=model, **llm_kwargs)
        self.fingerprint = fingerprint or vllm_fingerprint(model, llm_kwargs, chat_template)

    def __repr__(self) -> str:
        return f"VLLMBackend(model={self.model!r}, chat_template={self.chat_template})"

    def generate(self, prompts: list[str], sampling: SamplingParams) -> list[Completion]:
        if not prompts:
            return []
        params = to_vllm_sampling(self._vllm, sampling)
        if self.chat_template:
            conversations = [[{"role": "user", "content": p}] for p in prompts]
            outputs = self.llm.chat(conversations, params, use_tqdm=False)
        else:
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [to_completion(o, sampling.logprobs, sampling.top_logprobs) for o in outputs]
