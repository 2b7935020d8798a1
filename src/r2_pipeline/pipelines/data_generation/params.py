"""Pydantic model of the `data_generation` block: the micro world, the teacher, decomposition scores, labels."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from ...labels.candidates import VERIFY_SEED
from ...labels.grouped_search import SEARCH_SEED
from ...pool.params import SamplingBlock, Seed, Strict


class SplitSizes(Strict):
    train: PositiveInt
    validation: PositiveInt
    test: PositiveInt
    dev: NonNegativeInt = 0  # for studies to tune on, drawn apart from every other split (generate_dev)


class WorldParams(Strict):
    seed: Seed
    sizes: SplitSizes
    min_steps: int = Field(ge=1)
    max_steps: PositiveInt
    bucket_weights: list[float] = Field(min_length=5, max_length=5)
    extra_train: NonNegativeInt = 0  # training questions drawn after the test split
    # what may not appear twice in the world: a question's text, or its problem (its reference
    # subtasks: the same arithmetic under other wording)
    dedup: Literal["question", "problem"] = "question"

    @model_validator(mode="after")
    def sane(self):
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps {self.min_steps} > max_steps {self.max_steps}")
        if any(w < 0 for w in self.bucket_weights) or sum(self.bucket_weights) <= 0:
            raise ValueError(f"bucket_weights must be non-negative with a positive sum: {self.bucket_weights}")
        return self


class TeacherBenchmark(Strict):
    """Where the teacher's training questions come from; its sampling is `teacher.sampling`, and it
    runs no methods (a `BenchmarkSpec`'s `methods`/`sampling` here would be silently unused)."""

    source: str | None = None
    split: str = "test"
    limit: PositiveInt | None = None


class TeacherParams(Strict):
    # reference: the micro world's own decomposition and perturbed variants; endpoint: a strong
    # pool member prompted few-shot (paper profile)
    kind: Literal["reference", "endpoint"]
    variants: int = Field(ge=0)
    member: str | None = None
    few_shot: int | None = Field(default=None, ge=0)
    sampling: SamplingBlock | None = None
    benchmarks: dict[str, TeacherBenchmark] | None = None

    @model_validator(mode="after")
    def endpoint_complete(self):
        if self.kind != "endpoint":
            return self
        if not self.member:
            raise ValueError("an endpoint teacher needs `member`, the pool member that writes decompositions")
        if not self.benchmarks:
            raise ValueError("an endpoint teacher needs `benchmarks`: {name: {split, source, limit}} of training "
                             "questions")
        if not self.few_shot:
            raise ValueError("an endpoint teacher needs `few_shot` >= 1, the worked decompositions per prompt")
        if self.variants < 1:
            raise ValueError("an endpoint teacher needs `variants` >= 1, the plans it samples per question")
        from ...tasks.base import TASK_MODULES

        unsplit = [name for name, spec in self.benchmarks.items() if "split" not in spec.model_fields_set]
        if unsplit:  # never a silent default: the teacher's questions must not be evaluation's
            raise ValueError(f"teacher benchmarks {unsplit} need `split`, a training split disjoint from the "
                             "one evaluation reads")
        unknown = sorted(set(self.benchmarks) - set(TASK_MODULES) - {"micro"})
        if unknown or "micro" in self.benchmarks:
            raise ValueError(f"teacher benchmarks {unknown or ['micro']} are not real benchmarks; known: "
                             f"{sorted(set(TASK_MODULES) - {'micro'})}")
        return self


class ScoreWeights(Strict):
    conciseness: float = Field(ge=0)
    practicality: float = Field(ge=0)
    coherence: float = Field(ge=0)

    @model_validator(mode="after")
    def positive_sum(self):
        if self.conciseness + self.practicality + self.coherence <= 0:
            raise ValueError("weights must have a positive sum")
        return self


class DecompositionParams(Strict):
    evaluation_member: str
    require_verified: bool
    weights: ScoreWeights
    # how the evaluation member answers benchmark subtasks (endpoint teacher)
    sampling: SamplingBlock | None = None
    # the seed of a sampled member's draws while micro candidates are verified (labels/candidates.py)
    seed: Seed = VERIFY_SEED


class ReviewerParams(Strict):
    member: str
    sampling: SamplingBlock | None = None


class AllocationParams(Strict):
    baseline: str
    alpha: float = Field(ge=0, le=1)
    # confidence bounds for easy, medium (descending); start_tiers: ladder index for easy, medium, hard
    thresholds: list[float] = Field(min_length=1)
    start_tiers: list[int] = Field(min_length=2)
    reviewer: ReviewerParams | None = None
    # how members answer benchmark subtasks during the search (endpoint teacher)
    sampling: SamplingBlock | None = None
    # the seed of a sampled member's one try per rung in the micro search (labels/grouped_search.py)
    seed: Seed = SEARCH_SEED
    # answers per member and rung (try j drawn with seed + j); a member is accepted when at least
    # `accept_share` of them are verified. 1: the paper's search, one try
    tries: PositiveInt = 1
    accept_share: float = Field(default=0.5, gt=0, le=1)

    @model_validator(mode="after")
    def sane(self):
        if any(not 0 <= t <= 1 for t in self.thresholds) or self.thresholds != sorted(self.thresholds, reverse=True):
            raise ValueError(f"thresholds must be descending and within [0, 1]: {self.thresholds}")
        if len(self.start_tiers) != len(self.thresholds) + 1:
            raise ValueError(f"start_tiers {self.start_tiers} needs one tier per threshold plus one for the hardest "
                             f"({len(self.thresholds) + 1})")
        if any(t < 0 for t in self.start_tiers):
            raise ValueError(f"start_tiers are ladder indices (0 = cheapest), got {self.start_tiers}")
        return self


class DataGenerationParams(Strict):
    world: WorldParams
    teacher: TeacherParams
    decomposition: DecompositionParams
    allocation: AllocationParams

    @model_validator(mode="after")
    def endpoint_needs_reviewer(self):
        if self.teacher.kind == "endpoint" and self.allocation.reviewer is None:
            raise ValueError("an endpoint teacher's subtasks have no exact answer: set allocation.reviewer, the "
                             "member that judges answers")
        return self
