"""Pydantic model of the `rl_refinement` block: the GRPO phases of each round, their rewards, and
the cost lambdas of the main router and of the sweep."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ...methods.decoding import rule_needs_threshold
from ...pool.params import SamplingBlock, Strict
from ...training.params import TrainerBlock
from ..data_generation.params import ReviewerParams


class GRPOPhase(TrainerBlock):
    config_class: ClassVar[str] = "GRPOConfig"
    questions: PositiveInt
    seed: int
    # allocator phase: subtasks from the frozen decomposer's plans, or from the teacher's
    subtasks: Literal["decomposer", "teacher"] = "decomposer"

    @model_validator(mode="after")
    def whole_groups(self):
        """TRL's rule, on one process: the generation batch (per_device_train_batch_size x
        steps_per_generation, which defaults to gradient_accumulation_steps; or generation_batch_size)
        holds whole groups of num_generations completions. Checked here, before the phase's rollouts."""
        from ...training.grpo import generation_batch

        trainer = self.trainer
        batch, group = trainer.get("per_device_train_batch_size", 8), trainer.get("num_generations", 8)
        given = trainer.get("generation_batch_size") is not None
        if group < 2:
            raise ValueError(f"num_generations {group}: GRPO compares at least 2 completions of a prompt")
        if given and trainer.get("steps_per_generation") is not None:
            raise ValueError("set generation_batch_size or steps_per_generation, not both (TRL refuses both)")
        generation = generation_batch(trainer)
        if given and generation % batch:
            raise ValueError(f"generation_batch_size {generation} must be a multiple of per_device_train_batch_size "
                             f"{batch}")
        how = (f"generation_batch_size {generation}" if given
               else f"per_device_train_batch_size {batch} x {generation // batch} steps per generation")
        if generation % group:
            raise ValueError(f"the generation batch ({how}) must be a multiple of num_generations {group}: TRL "
                             "samples whole groups")
        if self.questions < generation // group:
            raise ValueError(f"questions {self.questions}: one generation batch ({how}) takes "
                             f"{generation // group} distinct prompts of num_generations {group} completions each; "
                             "TRL drops a smaller last batch, so with fewer the phase would train nothing")
        return self


class RLParams(Strict):
    cost_lambda: float = Field(ge=0)
    # one lambda per sweep slot (SWEEP_POINTS in pipelines/rl_refinement/pipeline.py): router
    # r2_sweep_<i> trains every round at the i-th
    lambda_sweep: list[NonNegativeFloat] | None = Field(default=None, validate_default=True)
    rewards: list[Literal["correctness", "cost", "format"]] = Field(min_length=1)
    fallback: str
    # the frozen allocator's decoding in decomposer-phase rollouts (evaluation.router.min_success, .rule)
    min_success: float | None = Field(default=None, gt=0, le=1)
    rule: Literal["cheapest_likely", "escalate"] = "cheapest_likely"
    decomposer: GRPOPhase
    allocator: GRPOPhase
    # real benchmarks only (micro steps have exact values and fixed widths): the member that judges a
    # sampled member's subtask answer, how members answer, how the frozen allocator names a member
    reviewer: ReviewerParams | None = None
    sampling: SamplingBlock | None = None
    allocator_sampling: SamplingBlock | None = None

    @model_validator(mode="before")
    @classmethod
    def no_rounds_key(cls, data):
        if isinstance(data, dict) and "rounds" in data:
            from .pipeline import ROUNDS

            raise ValueError(f"`rounds` is not a parameter: the pipeline is unrolled for ROUNDS = {ROUNDS}, set in "
                             "pipelines/rl_refinement/pipeline.py (the registry needs it before parameters load)")
        return data

    @field_validator("lambda_sweep")
    @classmethod
    def one_lambda_per_slot(cls, sweep: list[float] | None, info: ValidationInfo) -> list[float]:
        from .pipeline import SWEEP_POINTS

        main = info.data.get("cost_lambda")
        rule = (f"lambda_sweep must list SWEEP_POINTS = {SWEEP_POINTS} distinct lambdas, none equal to cost_lambda "
                f"{main} (SWEEP_POINTS, the number of sweep routers r2_sweep_<i>, is set in "
                "pipelines/rl_refinement/pipeline.py: the registry needs it before parameters load)")
        if sweep is None:
            raise ValueError(f"lambda_sweep is missing: {rule}")
        if len(sweep) != SWEEP_POINTS or len(set(sweep)) != len(sweep) or main in sweep:
            raise ValueError(rule)
        return sweep

    @model_validator(mode="after")
    def threshold_for_rule(self):
        rule_needs_threshold(self.rule, self.min_success)
        return self
