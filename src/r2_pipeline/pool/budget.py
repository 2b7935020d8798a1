"""The run's spending cap: before a batch is sent, what it can cost at most (its prompts' tokens and
`max_new_tokens` for every answer, priced) is added to what the run has paid; a batch that would
cross `pool.budget_usd` or its member's `pool.member_budget_usd` is not sent.

Only calls that go to a backend count: answers from the call cache are free, so a run stopped by a
cap, rerun with a higher one, pays only for the calls it is missing. The run's spend is one object
per process (`RUN`), shared by every pool the run's nodes build and reset when a pipeline run starts
(hooks.RunBudgetHook); its check and its booking hold one lock, so two members asked at once from two
threads cannot both slip under the cap.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .base import Completion, SamplingParams
from .prices import PriceTable

# dollars below this are rounding, not spend: a cap set to exactly N batches' bound admits N batches
EPSILON_USD = 1e-9
CHARS_PER_TOKEN = 4  # the usual estimate for English text, where a member's tokenizer is not at hand
# the tag of a Kedro node that reads `params:pool` but sends no call (the estimate): the endpoint
# preflight (hooks.py) leaves it alone
NO_POOL_CALLS = "no_pool_calls"


class BudgetExceeded(RuntimeError):
    """A batch was not sent: its cost bound would take the run past a spending cap."""


@dataclass(frozen=True)
class Caps:
    """The run's cap (`total`) and each capped member's (`members`), in USD; None: no cap."""

    total: float | None = None
    members: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_params(cls, pool: Mapping[str, Any], processes: int = 1) -> Caps:
        """The caps of `pool`, each process's share of them: the processes of a multi-process launch
        (GRPO rollouts on every rank) each count their own spend, so each may spend 1/`processes` of
        every cap and together they stay within it."""
        total, members = pool.get("budget_usd"), dict(pool.get("member_budget_usd") or {})
        return cls(None if total is None else total / processes, {m: cap / processes for m, cap in members.items()})

    def __bool__(self) -> bool:
        return self.total is not None or bool(self.members)


@dataclass(frozen=True)
class BatchBound:
    """The most a batch can cost: every prompt's tokens and `max_new_tokens` for every answer."""

    prompts: int
    prompt_tokens: int
    completion_tokens: int
    usd: float

    def describe(self) -> str:
        return (f"{self.prompts} prompts, at most {self.prompt_tokens} prompt and {self.completion_tokens} "
                f"completion tokens: up to ${self.usd:.6g}")


def prompt_tokens(backend: Any, prompts: Sequence[str], sampling: SamplingParams) -> list[int]:
    """Each prompt's tokens as the backend is charged them: an endpoint's own count (`request_tokens`,
    less the answer's share), a local member's encoding (chat template, special tokens, truncation),
    any other tokenizer's count, else about 4 characters a token."""
    if hasattr(backend, "request_tokens"):
        return [backend.request_tokens(p, sampling) - sampling.max_new_tokens for p in prompts]
    if hasattr(backend, "encode"):
        return [int(n) for n in backend.encode(list(prompts), sampling.max_new_tokens)["attention_mask"].sum(dim=1)]
    tokenizer = getattr(backend, "tokenizer", None)
    if tokenizer is not None:
        return [len(tokenizer(p)["input_ids"]) for p in prompts]
    return [-(-len(p) // CHARS_PER_TOKEN) for p in prompts]


def batch_bound(prices: PriceTable, member: str, backend: Any, prompts: Sequence[str],
                sampling: SamplingParams) -> BatchBound:
    tokens = sum(prompt_tokens(backend, prompts, sampling))
    completion = sampling.max_new_tokens * len(prompts)
    return BatchBound(len(prompts), tokens, completion, prices.cost(member, tokens, completion))


def refusal(caps: Caps, paid: Mapping[str, float], held: Mapping[str, float], member: str,
            bound: BatchBound) -> str | None:
    """Why `member`'s batch may not be sent, or None. `paid`: the run's real spend per member;
    `held`: the bounds of batches still in flight."""
    limits = [("pool.budget_usd", caps.total, sum(paid.values()), sum(held.values()))]
    if member in caps.members:
        limits.append((f"pool.member_budget_usd.{member}", caps.members[member], paid.get(member, 0.0),
                       held.get(member, 0.0)))
    for key, cap, spent, in_flight in limits:
        if cap is not None and spent + in_flight + bound.usd > cap + EPSILON_USD:
            pending = f" and ${in_flight:.6g} held by batches in flight" if in_flight else ""
            return (f"pool member {member!r}: the next batch ({bound.describe()}) would cross the cap {key} = "
                    f"${cap:g}: the run has spent ${spent:.6g}{pending}. The batch was not sent")
    return None


class Spend:
    """Dollars a run has paid per member (fresh answers, their real tokens priced) and dollars held by
    the bounds of batches in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paid: dict[str, float] = defaultdict(float)
        self.held: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        with self.lock:
            self.paid.clear()
            self.held.clear()

    @property
    def total(self) -> float:
        return sum(self.paid.values())


# the spend of the run in progress in this process; pools built by pool_from_params share it
RUN = Spend()


def start_run() -> None:
    """A new run has paid nothing yet (its cached answers stay free)."""
    RUN.reset()


@dataclass
class Booking:
    """The answers a batch was paid for, as they arrive (an endpoint's one by one)."""

    completions: list[Completion] = field(default_factory=list)

    def paid(self, completions: Sequence[Completion]) -> None:
        self.completions.extend(completions)

    def cost(self, prices: PriceTable, member: str) -> float:
        return sum(prices.cost(member, c.prompt_tokens, c.completion_tokens) for c in self.completions)


class Budget:
    """Checks each batch against `caps` before it is sent and books what it cost after.

    Without caps no bound is computed (a local member's prompts are not tokenized twice); the spend
    is still booked."""

    def __init__(self, caps: Caps | None, prices: PriceTable, spend: Spend | None = None,
                 resumable: bool = True):
        self.caps = caps or Caps()
        self.prices = prices
        self.spend = spend if spend is not None else Spend()
        self.resumable = resumable  # a call cache keeps the answers received

    @contextmanager
    def batch(self, member: str, backend: Any, prompts: Sequence[str], sampling: SamplingParams
              ) -> Iterator[Booking]:
        """Hold the batch's bound (or raise BudgetExceeded) for as long as it runs; the answers
        booked in it are the run's spend, whatever ends it (a failure midway included)."""
        bound = batch_bound(self.prices, member, backend, prompts, sampling) if self.caps else None
        self._hold(member, bound)
        booking = Booking()
        try:
            yield booking
        finally:
            with self.spend.lock:
                if bound is not None:
                    self.spend.held[member] -= bound.usd
                self.spend.paid[member] += booking.cost(self.prices, member)

    def _hold(self, member: str, bound: BatchBound | None) -> None:
        if bound is None:
            return
        with self.spend.lock:
            reason = refusal(self.caps, self.spend.paid, self.spend.held, member, bound)
            if reason is None:
                self.spend.held[member] += bound.usd
                return
        resume = (" Every answer received is in the call cache: raise the cap and rerun, and only the missing "
                  "calls are sent." if self.resumable else " Without pool.cache_path a rerun pays again for "
                  "every answer.")
        raise BudgetExceeded(reason + "." + resume)
