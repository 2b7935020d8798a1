"""What an evaluation method is: a typed spec with a `run` that answers test questions with the
pool, and the class attributes that tell the pipeline what it needs. Kinds live in kinds.py, by
name in registry.py."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ..reasoning.execute import StepTrace
from ..reasoning.router import RouterUsage
from ..tasks.base import Example


class Spec(BaseModel):
    """A spec refuses unknown keys and is never changed in place (model_copy makes a new one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class MethodResult:
    """Per-question traces of one method plus the router's own tokens and cost."""

    method: str
    traces: list[list[StepTrace]]
    seconds: float
    router_prompt_tokens: list[int]
    router_completion_tokens: list[int]
    router_cost_usd: list[float]
    invalid_allocations: int = 0
    allocations: int = 0


class Method(Spec, ABC):
    """One evaluation method. In `evaluation.methods` it is `{kind: <registry key>, name: <label>,
    ...its fields}`; `run` answers the questions. The class attributes say what it needs."""

    # a free label: the metrics.json key, the MLflow run name, what comparison pairs name
    name: str | None = None

    # runs a trained router (its decomposer; r2 its allocator too), whose tokens are priced as
    # `pool.router_member`; such a method runs in `evaluation`, after training
    uses_router: ClassVar[bool] = False
    # fitted on member_outcomes (the members' results on the micro world's training questions)
    uses_outcomes: ClassVar[bool] = False
    # why it runs on the micro benchmark only; None: it runs on any benchmark
    micro_only: ClassVar[str | None] = None

    @abstractmethod
    def run(self, pool, task, examples: list[Example], sampling, context) -> MethodResult:
        """Answer every example; `context` (reasoning/context.py MethodContext) holds the routers."""

    @property
    def kind(self) -> str:
        from .registry import METHOD_KINDS

        return next(name for name, cls in METHOD_KINDS.items() if type(self) is cls)

    @property
    def label(self) -> str:
        return self.name or self.default_name()

    @property
    def runs_before_training(self) -> bool:
        """Needs neither a trained router nor the outcome table: `evaluation_baselines` runs it."""
        return not self.uses_router and not self.uses_outcomes

    def default_name(self) -> str:
        return self.kind

    def trained_router(self, final: str) -> str | None:
        """The trained router it runs (`final`: the last one), None for none."""
        return final if self.uses_router else None

    def named_members(self) -> list[str]:
        """The pool members its spec names, checked against the pool."""
        return []

    def for_members(self, members: Sequence[str]) -> list[Method]:
        """The methods this entry stands for in a pool of `members` (`single`: one per member)."""
        return [self]

    def resolve(self, evaluation: Mapping[str, Any]) -> Method:
        """The same method with what its spec leaves to the `evaluation` block filled in."""
        return self

    def reading(self) -> str:
        """What it does, whatever it is called: two entries with one reading run the same thing."""
        return json.dumps([self.kind, self.model_dump(exclude={"name"})], sort_keys=True)

    def tags(self, evaluation: Mapping[str, Any]) -> dict[str, str]:
        """MLflow tags of its run beyond benchmark and method: how it read its router."""
        return {}

    def family(self) -> str:
        """Methods of one family (one model read at several thresholds) are joined in the plot."""
        return self.label


def run_method(method: Method, pool, task, examples: list[Example], sampling, context=None) -> MethodResult:
    if method.micro_only and getattr(task, "name", None) != "micro":
        raise ValueError(f"method {method.label!r} runs on the micro benchmark only: it {method.micro_only}")
    return method.run(pool, task, examples, sampling, context)


def result(method: Method, traces, start: float, usage: RouterUsage | None = None) -> MethodResult:
    usage = usage or RouterUsage.empty(len(traces))
    return MethodResult(method.label, traces, time.time() - start, usage.prompt_tokens,
                        usage.completion_tokens, usage.cost_usd, usage.invalid_allocations, usage.allocations)


def questions(examples: list[Example]) -> list[str]:
    return [e.question for e in examples]
