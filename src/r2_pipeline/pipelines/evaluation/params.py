"""Pydantic model of the `evaluation` block: benchmarks, methods, how trained routers are read, the
evaluation seeds, the cost weight of the objective, comparisons."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    NonNegativeFloat,
    PositiveInt,
    model_validator,
)

from ...methods import parse_method, planned_methods
from ...methods.decoding import rule_needs_threshold
from ...methods.kinds import QUERY_ROUTER_THRESHOLD
from ...pool.params import SamplingBlock, Seed, Strict, StrictSeed
from ..rl_refinement.rounds import trained_routers


def _method(entry: str | dict[str, Any]) -> str | dict[str, Any]:
    """An entry of `methods` (methods/spec.py): a kind or trained router by name, or a mapping
    {kind, name, ...fields}. Kept as written: the nodes read the same entries."""
    parse_method(entry, list(trained_routers()))
    return entry


MethodEntry = Annotated[str | dict[str, Any], AfterValidator(_method)]

# each method runs once per seed; the nodes read these when a block leaves the keys out
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_COST_LAMBDA = 0.5
# method runs at once at most (methods/parallel.py): runs on disjoint endpoint members; each member
# keeps its own limits, and members on one provider account share that account's
DEFAULT_MAX_PARALLEL_METHODS = 4
# tokens the trained router writes at most when router.sampling / .allocator_sampling leave
# max_new_tokens out: a plan, a member name
ROUTER_NEW_TOKENS = {"sampling": 64, "allocator_sampling": 4}


def _distinct(seeds: list[int]) -> list[int]:
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds {repeated} are listed twice: a seed run twice gives the same answers twice")
    return seeds


class BenchmarkSpec(Strict):
    source: str | None = None
    split: str = "test"
    limit: PositiveInt | None = None
    methods: list[MethodEntry] | None = None
    sampling: SamplingBlock | None = None


class RouterBlock(Strict):
    fallback: str | None = None
    # allocator decoding: null = the member it names; p = the cheapest with estimated success >= p
    min_success: float | None = Field(default=None, gt=0, le=1)
    # how min_success reads the allocator: cheapest_likely (above) or escalate (the named member if
    # its estimated success >= p, else the dearest member); router.ALLOCATOR_RULES
    rule: Literal["cheapest_likely", "escalate"] = "cheapest_likely"
    # a method's `recheck: {tau}` reads an answer's confidence as this quantile of its token probabilities:
    # 0, the lowest (a short micro answer); a long reasoning reply's lowest is almost always low
    recheck_alpha: float = Field(default=0.0, ge=0, le=1)
    sampling: SamplingBlock | None = None
    allocator_sampling: SamplingBlock | None = None

    @model_validator(mode="after")
    def threshold_for_rule(self):
        rule_needs_threshold(self.rule, self.min_success)
        return self


class QueryRouterBlock(Strict):
    k: PositiveInt = 25
    threshold: float = Field(default=QUERY_ROUTER_THRESHOLD, ge=0, le=1)


class ComparisonsBlock(Strict):
    """Paired comparisons of methods on the same questions (stats.paired_comparison)."""

    # [method, baseline] by method name; `largest` names the `single` method on the dearest pool member
    pairs: list[tuple[str, str]] = []
    confidence: float = Field(default=0.95, gt=0, lt=1)
    resamples: PositiveInt = 2000
    seed: Seed = 0


class EvaluationParams(Strict):
    benchmarks: dict[str, BenchmarkSpec] = Field(min_length=1)
    experiment: str
    methods: list[MethodEntry] = Field(min_length=1)
    sampling: SamplingBlock = SamplingBlock()
    router: RouterBlock = RouterBlock()
    query_router: QueryRouterBlock = QueryRouterBlock()
    comparisons: ComparisonsBlock = ComparisonsBlock()
    # every method runs once per seed (its sampling's seed and the random method's draws)
    seeds: Annotated[list[StrictSeed], AfterValidator(_distinct)] = Field(default=list(DEFAULT_SEEDS), min_length=1)
    # the objective: accuracy - cost_lambda * cost_vs_largest
    cost_lambda: NonNegativeFloat = DEFAULT_COST_LAMBDA
    # method runs evaluated at once, at most: runs that call only endpoint members and share none
    # (`single` on each endpoint member); the others, and any two that share a member, run in turn,
    # so the tables are those of 1 (every run in turn, in the calling thread)
    max_parallel_methods: PositiveInt = DEFAULT_MAX_PARALLEL_METHODS

    def settings(self) -> dict[str, Any]:
        """The block as the nodes read it (methods as written)."""
        return self.model_dump()

    @model_validator(mode="before")
    @classmethod
    def keys_that_are_not_parameters(cls, data):
        if isinstance(data, dict) and "routers" in data:
            raise ValueError(f"`routers` is not a parameter: the trained routers are {list(trained_routers())}, "
                             "one per GRPO round (rl_refinement.rounds) and sweep slot (SWEEP_POINTS in "
                             "pipelines/rl_refinement/rounds.py)")
        if isinstance(data, dict) and "seed" in data:
            raise ValueError(seed_key_message(data["seed"]))
        return data

    @model_validator(mode="after")
    def known_benchmarks(self):
        from ...tasks.base import TASK_MODULES

        unknown = sorted(set(self.benchmarks) - set(TASK_MODULES))
        if unknown:
            raise ValueError(f"unknown benchmarks {unknown}; known: {sorted(TASK_MODULES)}")
        micro = self.benchmarks.get("micro")
        if micro is not None and micro.split != "test":
            # the micro task reads whatever table it is given: a split name would be ignored, and a
            # threshold "tuned on validation" would be tuned on test
            raise ValueError(f"benchmarks.micro.split = {micro.split!r}: the micro benchmark reads a table, not a "
                             "split (the evaluation pipeline: data_generation's test split); score a router on "
                             "validation with studies/allocator_frontier.py --split validation")
        return self

    @model_validator(mode="after")
    def micro_only_methods_on_micro(self):
        routers = list(trained_routers())
        for name, spec in self.benchmarks.items():
            for entry in (spec.methods or self.methods) if name != "micro" else []:
                method = parse_method(entry, routers)
                if method.micro_only:
                    raise ValueError(f"benchmark {name!r} runs method {method.label!r}, which runs on the micro "
                                     f"benchmark only: it {method.micro_only}. List the micro-only methods in "
                                     "benchmarks.micro.methods")
        return self

    def planned(self, members: list[str]):
        """Every method some benchmark runs (methods/spec.py planned_methods)."""
        return planned_methods(self.settings(), members, list(trained_routers()))


def seed_key_message(seed: Any) -> str:
    """Why a block that sets `seed` is refused, and what to write instead."""
    return (f"`seed` is not a parameter: evaluation.seeds lists the evaluation seeds, each method runs once "
            f"per seed (write `seeds: [{seed}]` for one run)")
