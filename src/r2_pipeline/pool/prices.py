"""Dated per-token prices, kept apart from token counts so any result can be re-priced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PER_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    """USD per 1M input and output tokens of one member, with when and where the figure came from."""

    input_per_m: float
    output_per_m: float
    date: str
    source: str

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input_per_m + completion_tokens * self.output_per_m) / PER_MILLION


class PriceTable:
    """Member name -> Price; asking for an unpriced member is an error, never a silent zero."""

    def __init__(self, prices: Mapping[str, Price], name: str = "default"):
        self.prices = dict(prices)
        self.name = name

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping], name: str = "default") -> PriceTable:
        return cls({member: Price(**dict(entry)) for member, entry in config.items()}, name=name)

    def __getitem__(self, member: str) -> Price:
        if member not in self.prices:
            raise KeyError(f"no price for pool member {member!r}; priced: {sorted(self.prices)}")
        return self.prices[member]

    def __contains__(self, member: str) -> bool:
        return member in self.prices

    def cost(self, member: str, prompt_tokens: float, completion_tokens: float) -> float:
        return self[member].cost(prompt_tokens, completion_tokens)

    @property
    def dates(self) -> dict[str, str]:
        return {member: price.date for member, price in self.prices.items()}

    def reprice(self, calls: Iterable[Mapping]) -> list[float]:
        """Cost of each stored call (`member`, `prompt_tokens`, `completion_tokens`) under this table."""
        return [self.cost(c["member"], c["prompt_tokens"], c["completion_tokens"]) for c in calls]
