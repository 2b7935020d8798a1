"""Pydantic models of the `pool` block: members, their backends' arguments, prices and the ladder."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
    StrictInt,
    model_validator,
)

from .factory import check_ladder
from .pool import BACKENDS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# A seed as every generator takes it (numpy and pandas want [0, 2**32)), with room for the offsets
# the pipeline adds to it (rounds, phases, GRPO batches, tries): a bad one fails here, not mid-run
Seed = Annotated[int, Field(ge=0, lt=2**31)]
StrictSeed = Annotated[StrictInt, Field(ge=0, lt=2**31)]


class PriceParams(Strict):
    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)
    date: str
    source: str


class MemberParams(BaseModel):
    """A member's keys pass through to its backend's constructor, so each must be one of its arguments."""

    model_config = ConfigDict(extra="allow")
    backend: str

    @model_validator(mode="after")
    def known_backend(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; known: {sorted(BACKENDS)}")
        known = _backend_arguments(self.backend)
        unknown = sorted(set(self.model_extra or {}) - known) if known is not None else []
        if unknown:
            raise ValueError(f"keys that the {self.backend} backend does not take: {unknown}; known: {sorted(known)}")
        extra = self.model_extra or {}
        base_url = extra.get("base_url")
        if base_url is not None and not str(base_url).startswith(("http://", "https://")):
            raise ValueError(f"base_url {base_url!r} must start with http:// or https://")
        for key in ("batch_size", "max_concurrency", "requests_per_minute", "tokens_per_minute", "timeout_s",
                    "breaker_failures", "breaker_window_s"):
            if key in extra and extra[key] is not None and not (_number(extra[key]) and extra[key] > 0):
                raise ValueError(f"{key} = {extra[key]!r} must be a positive number")
        for key in ("max_retries", "backoff_s", "max_backoff_s"):
            if key in extra and not (_number(extra[key]) and extra[key] >= 0):
                raise ValueError(f"{key} = {extra[key]!r} must be a number >= 0")
        return self


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _backend_arguments(backend: str) -> set[str] | None:
    """Keyword arguments of a backend's class; None where it takes any (vLLM passes extras to vllm.LLM)."""
    import inspect

    if backend == "transformers":
        from .local import TransformersBackend as cls
    elif backend == "openai":
        from .openai_backend import OpenAIBackend as cls
    else:
        return None
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in params if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


class PoolParams(Strict):
    members: dict[str, MemberParams] = Field(min_length=1)
    prices: dict[str, PriceParams]
    price_table: str
    cache_path: str | None = None
    router_member: str | None = None
    # cheapest to dearest, when prices alone do not order the members (ties, or a member whose input
    # and output prices rank differently); default: by output price, then input price
    ladder: list[str] | None = None
    # spending caps in USD (pool/budget.py): the run's, and a member's own; a batch whose cost bound
    # would cross one is not sent. Only calls sent count: answers from the call cache are free
    budget_usd: NonNegativeFloat | None = None
    member_budget_usd: dict[str, NonNegativeFloat] = Field(default_factory=dict)

    @model_validator(mode="after")
    def capped_members_exist(self):
        unknown = sorted(set(self.member_budget_usd) - set(self.members))
        if unknown:
            raise ValueError(f"member_budget_usd caps {unknown}, which are not pool members; members: "
                             f"{list(self.members)}")
        return self

    @model_validator(mode="after")
    def every_member_priced(self):
        unpriced = [m for m in self.members if m not in self.prices]
        if unpriced:
            raise ValueError(f"members without a price: {unpriced}")
        if self.ladder is not None:
            check_ladder(self.ladder, self.members)
        if self.router_member and self.router_member not in self.prices:
            raise ValueError(f"router_member {self.router_member!r} has no price")
        return self


class SamplingBlock(Strict):
    """A `sampling` block. Unset (or null) fields keep the reader's defaults (pool.base.sampling_from),
    e.g. 64 new tokens for the decomposer's plan and 4 for a micro member name."""

    max_new_tokens: PositiveInt | None = None
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def no_empty_stop(self):
        if "" in self.stop:
            raise ValueError("stop holds an empty string, which would end every answer before its first token")
        return self
