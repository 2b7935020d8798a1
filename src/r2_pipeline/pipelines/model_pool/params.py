"""Pydantic model of the `model_pool` block: the micro tiers to train."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from ...pool.params import Seed, Strict
from ...training.params import heads_divide

# samples per held-out subtask in the ladder (model_pool.ladder_samples)
LADDER_SAMPLES = 4


class TierParams(Strict):
    architecture: Literal["gpt2", "llama"] = "gpt2"
    hidden_size: PositiveInt
    num_hidden_layers: PositiveInt
    num_attention_heads: PositiveInt
    buckets: list[int] = Field(min_length=1)
    steps: PositiveInt
    n_examples: PositiveInt = 50_000
    batch_size: PositiveInt = 256
    learning_rate: float = Field(gt=0)
    warmup_steps: int = Field(default=50, ge=0)
    init_from: str | None = None
    # this tier's own setting of model_pool.compound_working (null: the pool's)
    compound_working: bool | None = None

    @model_validator(mode="after")
    def sane(self):
        from ...tasks.micro import ALL_BUCKETS

        unknown = sorted(set(self.buckets) - set(ALL_BUCKETS))
        if unknown:
            raise ValueError(f"buckets {unknown} are not micro-world buckets {list(ALL_BUCKETS)}")
        heads_divide(self.hidden_size, self.num_attention_heads)
        return self


class ModelPoolParams(Strict):
    # required, like every key a node reads directly: a default here would pass validation and
    # leave the node without the key
    seed: Seed
    heldout_per_bucket: PositiveInt
    # samples per held-out subtask in the ladder: a sampled member's success rate, not one draw
    ladder_samples: PositiveInt = LADDER_SAMPLES
    # a compound's answer writes its intermediate value before its result (micro.member_answer),
    # for every tier that does not set its own
    compound_working: bool = False
    tiers: dict[str, TierParams]  # {} when every member is served (paper profile)

    def working(self, tier: str) -> bool:
        """Whether `tier` learns to show a compound's working: its own setting, else the pool's."""
        own = self.tiers[tier].compound_working
        return self.compound_working if own is None else own

    @model_validator(mode="after")
    def parents_come_first(self):
        names = list(self.tiers)
        for k, (name, tier) in enumerate(self.tiers.items()):
            if tier.init_from is not None and tier.init_from not in names[:k]:
                raise ValueError(f"tier {name!r} continues {tier.init_from!r}, which is not an earlier tier")
        return self
