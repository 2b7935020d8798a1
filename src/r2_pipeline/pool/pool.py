"""The model pool: named members, each a backend behind the shared call cache and cost ledger."""

from __future__ import annotations

import inspect
import logging
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .base import Backend, Completion, SamplingParams
from .budget import Budget
from .cache import CallCache, call_key
from .prices import PriceTable

logger = logging.getLogger(__name__)

BackendFactory = Callable[..., Backend]


def _transformers_backend(**kwargs: Any) -> Backend:
    from .local import TransformersBackend

    return TransformersBackend(**kwargs)


def _openai_backend(**kwargs: Any) -> Backend:
    from .openai_backend import OpenAIBackend  # built by the endpoint issue

    return OpenAIBackend(**kwargs)


def _vllm_backend(**kwargs: Any) -> Backend:
    from .vllm_backend import VLLMBackend  # optional extra, imported only when used

    return VLLMBackend(**kwargs)


BACKENDS: dict[str, BackendFactory] = {
    "transformers": _transformers_backend,
    "openai": _openai_backend,
    "vllm": _vllm_backend,
}


def make_backend(kind: str, **kwargs: Any) -> Backend:
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}; known: {sorted(BACKENDS)}")
    return BACKENDS[kind](**kwargs)


@dataclass
class CostLedger:
    """Tokens and calls per member; dollars are derived from a PriceTable, never stored. Members
    answering on several threads book here at once: a lock keeps every count."""

    prompt_tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    completion_tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, member: str, completions: list[Completion]) -> None:
        with self._lock:
            self.calls[member] += len(completions)
            self.prompt_tokens[member] += sum(c.prompt_tokens for c in completions)
            self.completion_tokens[member] += sum(c.completion_tokens for c in completions)

    def cost(self, prices: PriceTable) -> float:
        # fsum: the total does not depend on the order the members first booked, which threads decide
        with self._lock:
            return math.fsum(
                prices.cost(m, self.prompt_tokens[m], self.completion_tokens[m]) for m in self.calls
            )


class ModelPool:
    """Answers batches for named members, through the cache, and books every call in the ledger."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        prices: PriceTable,
        cache: CallCache | None = None,
        budget: Budget | None = None,
    ):
        missing = [name for name in backends if name not in prices]
        if missing:
            raise ValueError(f"pool members without a price: {missing}")
        self.backends = dict(backends)
        self.prices = prices
        self.cache = cache
        self.ledger = CostLedger()
        # checks each batch sent against the spending caps, books what it cost (budget.py)
        self.budget = budget or Budget(None, prices, resumable=cache is not None)

    @property
    def members(self) -> list[str]:
        return list(self.backends)

    def generate(
        self, member: str, prompts: list[str], sampling: SamplingParams | None = None
    ) -> list[Completion]:
        if member not in self.backends:
            raise KeyError(f"unknown pool member {member!r}; members: {self.members}")
        sampling = _as_answered(self.backends[member], sampling or SamplingParams())
        if not prompts:
            return []
        results = self._generate_cached(member, prompts, sampling)
        self.ledger.add(member, results)
        return results

    def _generate_cached(
        self, member: str, prompts: list[str], sampling: SamplingParams
    ) -> list[Completion]:
        backend = self.backends[member]
        if self.cache is None:
            with self.budget.batch(member, backend, prompts, sampling) as booking:
                booking.paid(answers := backend.generate(prompts, sampling))
            return answers
        keys = [call_key(backend.fingerprint, p, sampling) for p in prompts]
        found = self.cache.get_many(keys)
        todo = sorted({k: p for k, p in zip(keys, prompts) if k not in found}.items())
        self.cache.record(hits=len(prompts) - len(todo), misses=len(todo))
        if todo:
            fresh = self._generate_storing(member, backend, todo, sampling)
            found.update({k: c for (k, _), c in zip(todo, fresh)})
        return [found[k] for k in keys]

    def _generate_storing(
        self, member: str, backend: Backend, todo: list[tuple[str, str]], sampling: SamplingParams
    ) -> list[Completion]:
        """Cache each answer as it arrives where the backend can say so, else each batch as it ends: a
        killed run pays for none twice."""
        prompts = [p for _, p in todo]
        if "on_result" in inspect.signature(backend.generate).parameters:

            with self.budget.batch(member, backend, prompts, sampling) as booking:

                def store(i: int, completion: Completion) -> None:
                    booking.paid([completion])
                    self.cache.put_many(member, _deliverable(member, [(todo[i][0], completion)], sampling))

                return backend.generate(prompts, sampling, on_result=store)
        # a backend that batches (`batch_size`, the transformers backend) is handed one batch at a
        # time, as it would split the list itself, and each batch is cached before the next runs
        size = getattr(backend, "batch_size", None) or len(prompts)
        fresh: list[Completion] = []
        for start in range(0, len(prompts), size):
            with self.budget.batch(member, backend, prompts[start : start + size], sampling) as booking:
                booking.paid(answers := backend.generate(prompts[start : start + size], sampling))
            self.cache.put_many(member, _deliverable(
                member, [(k, c) for (k, _), c in zip(todo[start : start + size], answers)], sampling))
            fresh += answers
        return fresh

    def cost(self, member: str, completion: Completion) -> float:
        return self.prices.cost(member, completion.prompt_tokens, completion.completion_tokens)


def _as_answered(backend: Backend, sampling: SamplingParams) -> SamplingParams:
    """A greedy call's seed changes nothing a greedy member writes: it is asked, and cached, as seed
    0, so evaluation seeds cost a greedy member one call, not one per seed. A member with its own
    `temperature` samples whatever it is asked, and keeps the seed."""
    if sampling.greedy and not getattr(backend, "temperature", None) and sampling.seed != 0:
        return replace(sampling, seed=0)
    return sampling


def _deliverable(member: str, pairs: list[tuple[str, Completion]], sampling: SamplingParams):
    """The answers that carry what the call asked for. One asked for log-probabilities that came
    without them (a server that ignores the request) is returned but not cached: the key does not
    say whether they came, so a fixed server would otherwise be answered from the old calls."""
    kept = [(k, c) for k, c in pairs if not c.lacks(sampling)]
    if len(kept) < len(pairs):
        logger.warning("%d answers of %s came without the log-probabilities asked for; not cached",
                       len(pairs) - len(kept), member)
    return kept
