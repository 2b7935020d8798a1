"""Pydantic model of the `estimate` block: which stages to price, and what stands in for the text
that no router or teacher has written yet."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from ...pool.params import Strict

ESTIMATED_STAGES = ("evaluation_baselines", "evaluation", "data_generation", "rl_refinement")


class Assumptions(Strict):
    subtasks_per_question: PositiveInt = 3
    subtask_chars: PositiveInt = 120
    answer_chars: PositiveInt = 40
    # a training question of a real benchmark (rl_refinement reads data_generation's chosen ones)
    question_chars: PositiveInt = 400
    # GRPO processes (GPUs) that train at once: each samples its own batch of rollouts
    processes: PositiveInt = 1
    # which member an allocator not yet trained picks: the dearest (an upper bound), all alike, or
    # shares by member (e.g. allocation_search_stats.json's label_counts of an earlier run)
    allocation: Literal["dearest", "uniform"] | dict[str, PositiveFloat] = "dearest"


class EstimateParams(Strict):
    pipelines: list[Literal[ESTIMATED_STAGES]] = Field(default=list(ESTIMATED_STAGES), min_length=1)
    assumptions: Assumptions = Assumptions()
