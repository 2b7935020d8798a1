"""What evaluation methods need besides the pool: trained routers, the ladder, the query router,
the evaluation seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..pool.base import SamplingParams
from ..pool.factory import router_pool
from ..pool.pool import ModelPool


@dataclass
class MethodContext:
    routers: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # name -> (decomposer, allocator) backends
    router_price: dict | None = None
    final_router: str = "r2"
    router_sampling: SamplingParams = field(default_factory=lambda: SamplingParams(max_new_tokens=64))
    allocator_sampling: SamplingParams = field(default_factory=lambda: SamplingParams(max_new_tokens=4))
    ladder: list[str] = field(default_factory=list)
    fallback: str = ""
    recheck_alpha: float = 0.0  # `+recheck`: the quantile of an answer's token probabilities it reads
    seed: int = 0  # the evaluation seed of this run (the random method's draws); one context per seed
    query_router: Any = None
    cache: Any = None
    data_generation: dict | None = None  # params:data_generation, which `label_policy` replays

    def router(self, name: str) -> ModelPool:
        """The router's two models as a tiny pool, priced as the router member."""
        if name not in self.routers:
            raise ValueError(f"no trained router {name!r}; available: {sorted(self.routers)}")
        decomposer, allocator = self.routers[name]
        return router_pool(decomposer, allocator, self.router_price, self.cache)
