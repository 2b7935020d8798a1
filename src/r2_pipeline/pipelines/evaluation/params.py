"""Pydantic model of the `evaluation` block: benchmarks, methods, how trained routers are read, comparisons."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from ...pool.params import SamplingBlock, Strict
from ..rl_refinement.pipeline import trained_routers


class BenchmarkSpec(Strict):
    source: str | None = None
    split: str = "test"
    limit: PositiveInt | None = None
    methods: list[str] | None = None
    sampling: SamplingBlock | None = None


class RouterBlock(Strict):
    fallback: str | None = None
    # allocator decoding: null = the member it names; p = the cheapest with estimated success >= p
    min_success: float | None = Field(default=None, gt=0, le=1)
    # how min_success reads the allocator: cheapest_likely (above) or escalate (the named member if
    # its estimated success >= p, else the dearest member); router.ALLOCATOR_RULES
    rule: Literal["cheapest_likely", "escalate"] = "cheapest_likely"
    # `+recheck=<tau>` reads an answer's confidence as this quantile of its token probabilities:
    # 0, the lowest (a short micro answer); a long reasoning reply's lowest is almost always low
    recheck_alpha: float = Field(default=0.0, ge=0, le=1)
    sampling: SamplingBlock | None = None
    allocator_sampling: SamplingBlock | None = None

    @model_validator(mode="after")
    def rule_needs_threshold(self):
        rule_needs_threshold(self.rule, self.min_success)
        return self


def rule_needs_threshold(rule: str, min_success: float | None) -> None:
    """`escalate` reads the allocator at a threshold; without one the allocator is read greedily and
    the rule would be silently ignored."""
    if rule != "cheapest_likely" and min_success is None:
        raise ValueError(f"rule {rule!r} needs min_success, the threshold it reads the allocator at (null is "
                         "greedy: the member the allocator names)")


class QueryRouterBlock(Strict):
    k: PositiveInt = 25
    threshold: float = Field(default=0.9, ge=0, le=1)


class ComparisonsBlock(Strict):
    """Paired comparisons of methods on the same questions (stats.paired_comparison)."""

    # [method, baseline]; `largest` names `single:<the dearest pool member>`
    pairs: list[tuple[str, str]] = []
    confidence: float = Field(default=0.95, gt=0, lt=1)
    resamples: PositiveInt = 2000
    seed: int = 0


class EvaluationParams(Strict):
    benchmarks: dict[str, BenchmarkSpec] = Field(min_length=1)
    experiment: str
    methods: list[str] = Field(min_length=1)
    sampling: SamplingBlock = SamplingBlock()
    router: RouterBlock = RouterBlock()
    query_router: QueryRouterBlock = QueryRouterBlock()
    comparisons: ComparisonsBlock = ComparisonsBlock()
    seed: int = 0

    def planned_methods(self) -> list[str]:
        """Every method some benchmark runs (its own `methods`, else the top-level list), once each;
        pipelines/evaluation/nodes.py planned_methods reads the same from the raw dict."""
        return list(dict.fromkeys(m for b in self.benchmarks.values() for m in b.methods or self.methods))

    @model_validator(mode="before")
    @classmethod
    def no_routers_key(cls, data):
        if isinstance(data, dict) and "routers" in data:
            raise ValueError(f"`routers` is not a parameter: the trained routers are {list(trained_routers())}, "
                             "one per GRPO round (ROUNDS in pipelines/rl_refinement/pipeline.py)")
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
                             "validation with benchmarks/allocator_frontier.py --split validation")
        return self

    @model_validator(mode="after")
    def known_methods(self):
        from ...reasoning.methods import (
            MICRO_ONLY_KINDS,
            RUNNERS,
            TRAINED_ROUTER_KINDS,
            check_method,
            method_kind,
            router_name,
        )

        for spec_methods in [self.methods] + [b.methods or [] for b in self.benchmarks.values()]:
            for method in spec_methods:
                if method_kind(method) not in RUNNERS:
                    raise ValueError(f"unknown method {method!r}; known kinds: {sorted(RUNNERS)}")
                check_method(method)
                if method_kind(method) in TRAINED_ROUTER_KINDS and router_name(method) not in trained_routers():
                    raise ValueError(f"method {method!r} names no trained router; routers: {list(trained_routers())}")
        for name, spec in self.benchmarks.items():
            for method in (spec.methods or self.methods) if name != "micro" else []:
                if method_kind(method) in MICRO_ONLY_KINDS:
                    raise ValueError(f"benchmark {name!r} runs method {method!r}, which runs on the micro benchmark "
                                     f"only: it {MICRO_ONLY_KINDS[method_kind(method)]}. List the micro-only "
                                     f"methods in benchmarks.micro.methods")
        return self
