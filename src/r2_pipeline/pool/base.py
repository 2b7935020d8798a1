"""The one interface every pool backend implements: a batch of prompts in, completions with token counts out."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings of one batch; part of the cache key, so every field must change the output."""

    max_new_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    logprobs: bool = False
    # > 0: also the k most likely tokens at every generated position (as OpenAI's `top_logprobs`)
    top_logprobs: int = 0
    seed: int = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "stop", tuple(self.stop))  # a list from YAML would be unhashable
        # `temperature: 0` in YAML is an int: the same call as 0.0, so the same cache key
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_p", float(self.top_p))
        if "" in self.stop:
            raise ValueError("an empty stop string would end every answer before its first token")

    def key(self) -> str:
        data = asdict(self)
        if self.stop:  # local completions cached before stop strings ended the token count charged past them
            data["stop_ends_count"] = True
        return json.dumps(data, sort_keys=True)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def sampling_from(block: dict | None, **defaults) -> SamplingParams:
    """A `sampling` block of the parameters, over the reader's own defaults: a block that sets only
    `temperature` keeps the reader's `max_new_tokens`, and a null block or field is the default."""
    given = {k: v for k, v in (block or {}).items() if v is not None}
    return SamplingParams(**{**defaults, **given})


@dataclass
class Completion:
    """One generated answer with the token counts that prices are applied to."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    token_logprobs: list[float] | None = None
    estimated_tokens: bool = False
    # per generated position: token text -> log-probability of the k most likely tokens
    top_logprobs: list[dict[str, float]] | None = None
    cached: bool = field(default=False, compare=False)

    def lacks(self, sampling: SamplingParams) -> bool:
        """True when the call asked for log-probabilities (`logprobs`, or `top_logprobs`) that did not
        come with an answer that has tokens: a server that ignores the request."""
        if self.completion_tokens <= 0:
            return False
        return bool((sampling.logprobs and self.token_logprobs is None)
                    or (sampling.top_logprobs and self.top_logprobs is None))

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("cached")
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str, cached: bool = True) -> Completion:
        return cls(**json.loads(text), cached=cached)


def call_tokens(backend, prompt: str, completion: str) -> tuple[int, int] | None:
    """The tokens a call of `backend` that writes `completion` to `prompt` would be charged: the
    prompt as the backend encodes it, the completion without special tokens plus its end token.
    None for a backend without a tokenizer here (an endpoint)."""
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is None:
        return None
    special = getattr(backend, "add_special_tokens", False)
    return (len(tokenizer(prompt, add_special_tokens=special)["input_ids"]),
            len(tokenizer(completion, add_special_tokens=False)["input_ids"]) + 1)


def runs_concurrently(backend) -> bool:
    """Whether `backend` may answer a batch while other members answer theirs: a backend that waits
    on a server says so with a class attribute `concurrent = True`. A backend without it (a model in
    this process) shares the machine's CPU or GPU with every other one, so it answers alone, in the
    calling thread."""
    return bool(getattr(backend, "concurrent", False))


@runtime_checkable
class Backend(Protocol):
    """A model that answers a batch of prompts; `fingerprint` names the exact weights for the cache.
    `concurrent = True` (`runs_concurrently`) lets its batches run on other threads, alongside other
    members' batches and from several callers at once: its `generate` must then be thread-safe."""

    fingerprint: str

    def generate(self, prompts: list[str], sampling: SamplingParams) -> list[Completion]: ...
