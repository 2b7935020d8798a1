"""What a run's calls would cost, counted before any is sent: each prompt's tokens as the spending
cap counts them (budget.prompt_tokens), `max_new_tokens` for each answer, priced. A prompt asked of
one model twice is one call, as the call cache makes it; one the cache already answered is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..paths import from_root
from .base import SamplingParams
from .budget import prompt_tokens
from .cache import CallCache, call_key
from .factory import _backend
from .pool import _as_answered
from .prices import PriceTable

COLUMNS = ["stage", "member", "basis", "calls", "cached", "prompt_tokens", "completion_tokens", "usd"]
TOTAL = "total"


@dataclass
class StandIn:
    """A member that is not built to count its calls (a local model's weights, a vLLM engine): the
    settings that decide how its calls are keyed (`temperature`) and counted (a tokenizer, if any).
    With no fingerprint, the cache is not asked about it."""

    temperature: float | None = None
    tokenizer: Any = None
    fingerprint: str | None = None


def counting_backends(pool: Mapping[str, Any]) -> dict[str, Any]:
    """Per member of `params:pool`, what counts its calls without sending any: an endpoint member's
    own backend (built offline: its fingerprint and token count are the run's), else a StandIn with
    the member's folder's tokenizer when `path` names one."""
    from .local import load_tokenizer  # noqa: PLC0415  (torch, only for a local member with a folder)

    backends: dict[str, Any] = {}
    for name, spec in pool["members"].items():
        if spec["backend"] == "openai":
            backends[name] = _backend(name, dict(spec))
        else:
            path = spec.get("path") or spec.get("model")
            folder = Path(from_root(path)) if path else None
            tokenizer = load_tokenizer(folder) if folder is not None and folder.is_dir() else None
            backends[name] = StandIn(spec.get("temperature"), tokenizer)
    return backends


def existing_cache(path: str | None) -> CallCache | None:
    """The call cache at `path` when there is one; an estimate never creates it."""
    return CallCache(from_root(path)) if path and Path(from_root(path)).is_file() else None


class _KeyedOnce:
    """A sampling's cache key, serialised once for a batch of prompts instead of once a prompt."""

    def __init__(self, sampling: SamplingParams):
        self._key = sampling.key()

    def key(self) -> str:
        return self._key


class Tally:
    """Calls by stage, member and basis (`prompts`: the run's own text; `assumed`: text stood in for
    what is not written yet, never found in the cache)."""

    def __init__(self, prices: PriceTable, backends: Mapping[str, Any], cache: CallCache | None = None):
        self.prices, self.backends, self.cache = prices, dict(backends), cache
        self.seen: set[str] = set()
        self.rows: dict[tuple[str, str, str], list[int]] = {}

    def add(self, stage: str, member: str, prompts: Iterable[str], sampling: SamplingParams,
            assumed: bool = False, identity: str | None = None) -> None:
        """`identity`: whose answers these are, for a model outside the pool (a router); default the
        member's backend."""
        backend = self.backends.get(member) or StandIn()
        sampling = _as_answered(backend, sampling)
        who, keyed = identity or backend.fingerprint or member, _KeyedOnce(sampling)
        fresh = {call_key(who, p, keyed): p for p in prompts}
        fresh = {k: p for k, p in fresh.items() if k not in self.seen}
        self.seen.update(fresh)
        found = set()
        if self.cache is not None and not assumed and identity is None and backend.fingerprint:
            found = set(self.cache.get_many(list(fresh)))
        todo = [p for k, p in fresh.items() if k not in found]
        if not fresh:
            return
        row = self.rows.setdefault((stage, member, "assumed" if assumed else "prompts"), [0, 0, 0, 0])
        row[0] += len(todo)
        row[1] += len(found)
        row[2] += sum(prompt_tokens(backend, todo, sampling))
        row[3] += len(todo) * sampling.max_new_tokens

    def table(self) -> pd.DataFrame:
        """One row per stage, member and basis, then each member's total and the run's."""
        rows = [{"stage": stage, "member": member, "basis": basis, "calls": calls, "cached": cached,
                 "prompt_tokens": tokens, "completion_tokens": completion,
                 "usd": self.prices.cost(member, tokens, completion)}
                for (stage, member, basis), (calls, cached, tokens, completion) in self.rows.items()]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        return pd.concat([frame, totals(frame)], ignore_index=True) if rows else frame


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Each member's sum over stages and bases, and the sum over all (stage and basis `total`)."""
    numbers = ["calls", "cached", "prompt_tokens", "completion_tokens", "usd"]
    members = frame.groupby("member", sort=False)[numbers].sum().reset_index()
    members[["stage", "basis"]] = TOTAL
    everything = pd.DataFrame([{"stage": TOTAL, "member": TOTAL, "basis": TOTAL, **frame[numbers].sum()}])
    return pd.concat([members, everything], ignore_index=True)[COLUMNS].astype({n: int for n in numbers[:-1]})
