"""Pydantic models of each parameter block: a bad value fails before any node runs, naming the key."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from .pool.pool import BACKENDS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PriceParams(Strict):
    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)
    date: str
    source: str


class MemberParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    backend: str

    @model_validator(mode="after")
    def known_backend(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; known: {sorted(BACKENDS)}")
        return self


class PoolParams(Strict):
    members: dict[str, MemberParams] = Field(min_length=1)
    prices: dict[str, PriceParams]
    price_table: str
    cache_path: str | None = None
    router_member: str | None = None

    @model_validator(mode="after")
    def every_member_priced(self):
        unpriced = [m for m in self.members if m not in self.prices]
        if unpriced:
            raise ValueError(f"members without a price: {unpriced}")
        if self.router_member and self.router_member not in self.prices:
            raise ValueError(f"router_member {self.router_member!r} has no price")
        return self


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


class ModelPoolParams(Strict):
    seed: int = 0
    heldout_per_bucket: PositiveInt = 400
    tiers: dict[str, TierParams] = Field(default_factory=dict)

    @model_validator(mode="after")
    def parents_come_first(self):
        names = list(self.tiers)
        for k, (name, tier) in enumerate(self.tiers.items()):
            if tier.init_from is not None and tier.init_from not in names[:k]:
                raise ValueError(f"tier {name!r} continues {tier.init_from!r}, which is not an earlier tier")
        return self


class SplitSizes(Strict):
    train: PositiveInt
    validation: PositiveInt
    test: PositiveInt


class WorldParams(Strict):
    seed: int = 0
    sizes: SplitSizes
    min_steps: int = Field(ge=1)
    max_steps: PositiveInt
    bucket_weights: list[float] = Field(min_length=5, max_length=5)

    @model_validator(mode="after")
    def sane(self):
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps {self.min_steps} > max_steps {self.max_steps}")
        if any(w < 0 for w in self.bucket_weights) or sum(self.bucket_weights) <= 0:
            raise ValueError(f"bucket_weights must be non-negative with a positive sum: {self.bucket_weights}")
        return self


class DataGenerationParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    world: WorldParams
    teacher: dict[str, Any] = Field(default_factory=lambda: {"kind": "reference"})


class SamplingBlock(Strict):
    max_new_tokens: PositiveInt = 8
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    seed: int = 0


class BenchmarkSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    source: str | None = None
    split: str = "test"
    limit: PositiveInt | None = None
    methods: list[str] | None = None


class RouterBlock(BaseModel):
    model_config = ConfigDict(extra="allow")
    fallback: str | None = None
    # allocator decoding: null = the member it names; p = the cheapest with estimated success >= p
    min_success: float | None = Field(default=None, gt=0, le=1)


class EvaluationParams(BaseModel):
    model_config = ConfigDict(extra="allow")
    benchmarks: dict[str, BenchmarkSpec] = Field(min_length=1)
    experiment: str
    methods: list[str] = Field(min_length=1)
    sampling: SamplingBlock = SamplingBlock()
    router: RouterBlock = RouterBlock()

    @model_validator(mode="after")
    def known_benchmarks(self):
        from .tasks.base import TASK_MODULES

        unknown = sorted(set(self.benchmarks) - set(TASK_MODULES))
        if unknown:
            raise ValueError(f"unknown benchmarks {unknown}; known: {sorted(TASK_MODULES)}")
        return self

    @model_validator(mode="after")
    def known_methods(self):
        from .reasoning.methods import RUNNERS, method_kind, query_router_threshold

        for spec_methods in [self.methods] + [b.methods or [] for b in self.benchmarks.values()]:
            for method in spec_methods:
                if method_kind(method) not in RUNNERS:
                    raise ValueError(f"unknown method {method!r}; known kinds: {sorted(RUNNERS)}")
                if method_kind(method) == "query_router":
                    query_router_threshold(method)
        return self


class TrainerBlock(Strict):
    """`trainer` and `lora` pass through unchanged to a TRL config class and to LoraConfig."""

    config_class: ClassVar[str]
    lora: dict[str, Any] | None = None
    trainer: dict[str, Any]

    @model_validator(mode="after")
    def known_fields(self):
        _check_fields(self.trainer, "trl", self.config_class, "trainer")
        if self.lora:
            _check_fields(self.lora, "peft", "LoraConfig", "lora")
        return self


class SFTParams(TrainerBlock):
    config_class: ClassVar[str] = "SFTConfig"
    run_name: str
    backbone: dict[str, Any]

    @model_validator(mode="after")
    def known_backbone(self):
        if self.backbone.get("kind") not in {"tiny", "pretrained"}:
            raise ValueError(f"backbone.kind must be 'tiny' or 'pretrained', got {self.backbone.get('kind')!r}")
        return self


def _check_fields(block: dict, module: str, cls: str, key: str) -> None:
    """Keys pass through unchanged to a TRL/PEFT config class, so each must be one of its fields."""
    import dataclasses
    import importlib

    known = {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"{key} has keys that are not {cls} fields: {unknown}")


class GRPOPhase(TrainerBlock):
    config_class: ClassVar[str] = "GRPOConfig"
    questions: PositiveInt
    seed: int = 0
    # allocator phase: subtasks from the frozen decomposer's plans, or from the teacher's
    subtasks: Literal["decomposer", "teacher"] = "decomposer"

    @model_validator(mode="after")
    def whole_groups(self):
        batch, group = self.trainer.get("per_device_train_batch_size", 8), self.trainer.get("num_generations", 8)
        if batch % group:
            raise ValueError(f"per_device_train_batch_size {batch} must be a multiple of num_generations {group}")
        return self


class RLParams(Strict):
    rounds: PositiveInt
    cost_lambda: float = Field(ge=0)
    rewards: list[Literal["correctness", "cost", "format"]] = Field(min_length=1)
    fallback: str
    # the frozen allocator's decoding in decomposer-phase rollouts (evaluation.router.min_success)
    min_success: float | None = Field(default=None, gt=0, le=1)
    decomposer: GRPOPhase
    allocator: GRPOPhase

    @model_validator(mode="after")
    def rounds_match_registry(self):
        from .pipelines.rl_refinement import ROUNDS

        if self.rounds != ROUNDS:
            raise ValueError(f"rounds = {self.rounds}, but the pipeline is unrolled for {ROUNDS} "
                             "(ROUNDS in pipelines/rl_refinement/pipeline.py)")
        return self


BLOCKS: dict[str, type[BaseModel]] = {
    "rl_refinement": RLParams,
    "decomposer_sft": SFTParams,
    "allocator_sft": SFTParams,
    "pool": PoolParams,
    "model_pool": ModelPoolParams,
    "data_generation": DataGenerationParams,
    "evaluation": EvaluationParams,
}


class ParameterError(ValueError):
    """A parameter block failed validation; the message names the key and the bad value."""


def validate_params(params: dict[str, Any]) -> dict[str, BaseModel]:
    validated = {}
    for block, model in BLOCKS.items():
        if block not in params:
            continue
        try:
            validated[block] = model.model_validate(params[block])
        except ValidationError as err:
            raise ParameterError(_describe(block, err)) from None
    return validated


def _describe(block: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join([block, *[str(p) for p in e["loc"]]])
        lines.append(f"parameter {key} = {e.get('input')!r}: {e['msg']}")
    return "invalid parameters:\n  " + "\n  ".join(lines)
