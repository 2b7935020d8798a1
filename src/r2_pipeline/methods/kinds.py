"""The method kinds: each a spec whose fields are its `evaluation.methods` keys, and its `run`."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import Field, model_validator

from ..reasoning.execute import Recheck, execute, fixed_member
from ..reasoning.router import RouterUsage, allocator_rule, decompose
from .base import Method, MethodResult, questions, result
from .decoding import Decoding, RecheckSpec

# the query router's threshold when neither its method nor `evaluation.query_router` sets one
QUERY_ROUTER_THRESHOLD = 0.9


class OneMember(Method):
    """A kind that sends work to one pool member; without `member` it stands for one method per
    member, named `<kind>:<member>`."""

    member: str | None = None

    @model_validator(mode="after")
    def name_needs_member(self):
        if self.member is None and self.name is not None:
            raise ValueError(f"name {self.name!r} labels one method, but without `member` this entry is one per pool "
                             "member: give `member`, or leave out `name`")
        return self

    def default_name(self) -> str:
        return self.kind if self.member is None else f"{self.kind}:{self.member}"

    def named_members(self) -> list[str]:
        return [] if self.member is None else [self.member]

    def for_members(self, members: Sequence[str]) -> list[Method]:
        return [self] if self.member is not None else [self.model_copy(update={"member": m}) for m in members]

    def _member(self, pool) -> str:
        if self.member not in pool.members:
            raise ValueError(f"method {self.label!r} names no pool member; members: {pool.members}")
        return self.member


class Single(OneMember):
    """The member does every step of the teacher's decomposition."""

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        member, start = self._member(pool), time.time()
        plans = [task.reference_subtasks(e) for e in examples]
        return result(self, execute(pool, task, questions(examples), plans, fixed_member(member), sampling), start)


def _final_plans(task, examples, context) -> tuple[list, RouterUsage]:
    """The final trained router's decompositions, its tokens counted."""
    router, usage = context.router(context.final_router), RouterUsage.empty(len(examples))
    plans, _ = decompose(router, task, questions(examples), context.router_sampling, usage)
    return plans, usage


class Tier(OneMember):
    """R2's trained decomposer, every subtask sent to one member."""

    uses_router: ClassVar[bool] = True

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        member, start = self._member(pool), time.time()
        plans, usage = _final_plans(task, examples, context)
        return result(self, execute(pool, task, questions(examples), plans, fixed_member(member), sampling), start,
                      usage)


class Random(Method):
    """R2's decomposer, each subtask to a member drawn uniformly (seeded by the evaluation seed of the run)."""

    uses_router: ClassVar[bool] = True

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        start, rng = time.time(), random.Random(context.seed)
        plans, usage = _final_plans(task, examples, context)

        def allocate(idx, step, filled, histories):
            return [rng.choice(pool.members) for _ in idx]

        return result(self, execute(pool, task, questions(examples), plans, allocate, sampling), start, usage)


class Oracle(Method):
    """R2's decomposer, each subtask to the cheapest member that answers it exactly.

    The upper bound of allocation: it is charged only for the member it picks, not for the search.
    """

    uses_router: ClassVar[bool] = True
    micro_only: ClassVar[str | None] = "needs each subtask's exact answer, which only the micro world has"

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        start = time.time()
        plans, usage = _final_plans(task, examples, context)
        ladder = context.ladder

        def allocate(idx, step, filled, histories):
            chosen = [ladder[-1]] * len(idx)
            open_rows = [j for j, f in enumerate(filled) if task.exact_subtask(f) is not None]
            for member in ladder:
                if not open_rows:
                    break
                prompts = [task.subtask_prompt("", histories[j], filled[j]) for j in open_rows]
                outs = pool.generate(member, prompts, sampling)
                solved = {j for j, p, o in zip(open_rows, prompts, outs)
                          if task.parse_subtask(p, o.text) == task.exact_subtask(filled[j])}
                for j in solved:
                    chosen[j] = member
                open_rows = [j for j in open_rows if j not in solved]
            return chosen

        return result(self, execute(pool, task, questions(examples), plans, allocate, sampling), start, usage)


class QueryRouter(Method):
    """One member per question (kNN over question text, RouteLLM style), which then does every step
    of the teacher's decomposition: the cheapest member whose estimated accuracy reaches `threshold`
    (default `evaluation.query_router.threshold`). Several thresholds trace its accuracy-cost frontier."""

    uses_outcomes: ClassVar[bool] = True
    micro_only: ClassVar[str | None] = ("is fitted on the members' outcomes on the micro world's training "
                                        "questions")
    threshold: float | None = Field(default=None, ge=0, le=1)

    def default_name(self) -> str:
        return self.kind if self.threshold is None else f"{self.kind}@{self.threshold:g}"

    def resolve(self, evaluation: Mapping[str, Any]) -> Method:
        if self.threshold is not None:
            return self
        threshold = (evaluation.get("query_router") or {}).get("threshold", QUERY_ROUTER_THRESHOLD)
        return self.model_copy(update={"threshold": threshold})

    def tags(self, evaluation: Mapping[str, Any]) -> dict[str, str]:
        return {"router": self.kind, "threshold": str(self.threshold)}

    def family(self) -> str:
        return self.kind

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        start = time.time()
        choices = context.query_router.choose(questions(examples), self.threshold)
        plans = [task.reference_subtasks(e) for e in examples]

        def allocate(idx, step, filled, histories):
            return [choices[i] for i in idx]

        return result(self, execute(pool, task, questions(examples), plans, allocate, sampling), start)


class R2(Method):
    """A trained router end to end: its decomposer and its allocator (`router`: r2_sft,
    r2_decomposer_phase, r2_round_<k>, r2_sweep_<i> or r2), the allocator read by `decoding`
    (default `evaluation.router`'s rule and min_success). One router read several ways traces its
    own accuracy-cost frontier. With `recheck`, an unsure
    step is asked again one rung up (RecheckSpec)."""

    uses_router: ClassVar[bool] = True
    router: str
    decoding: Decoding | None = None
    recheck: RecheckSpec | None = None

    def default_name(self) -> str:
        """`r2_sft@0.9` (cheapest_likely), `r2_sft@escalate=0.99`, `r2@greedy`, then `+recheck=<tau>` or
        `+recheck_agree=<tau>`: the shipped names' convention."""
        name = self.router
        if self.decoding is not None:
            rule, p = self.decoding.rule, self.decoding.min_success
            name += "@greedy" if rule == "greedy" else f"@{p:g}" if rule == "cheapest_likely" else f"@{rule}={p:g}"
        if self.recheck is not None:
            name += f"+recheck{'_agree' if self.recheck.agree else ''}={self.recheck.tau:g}"
        return name

    def trained_router(self, final: str) -> str | None:
        return self.router

    def resolve(self, evaluation: Mapping[str, Any]) -> Method:
        if self.decoding is not None:
            return self
        router = evaluation.get("router") or {}
        decoding = Decoding.of(router.get("rule", "cheapest_likely"), router.get("min_success"))
        return self.model_copy(update={"decoding": decoding})

    def tags(self, evaluation: Mapping[str, Any]) -> dict[str, str]:
        greedy, recheck = self.decoding.rule == "greedy", self.recheck
        alpha = float((evaluation.get("router") or {}).get("recheck_alpha", 0.0))
        return {"router": self.router, "rule": self.decoding.rule,
                "threshold": "none" if greedy else str(self.decoding.min_success),
                "recheck": "none" if recheck is None else str(recheck.tau),
                "recheck_agree": "none" if recheck is None else str(recheck.agree).lower(),
                "recheck_alpha": "none" if recheck is None else str(alpha)}

    def family(self) -> str:
        recheck = "" if self.recheck is None else "+recheck_agree" if self.recheck.agree else "+recheck"
        return f"{self.router}@{self.decoding.rule}{recheck}"

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        if self.decoding is None:
            raise ValueError(f"method {self.label!r} has no decoding yet: resolve it against the evaluation block "
                             "(methods.expand_methods)")
        start, qs = time.time(), questions(examples)
        router, usage = context.router(self.router), RouterUsage.empty(len(examples))
        plans, _ = decompose(router, task, qs, context.router_sampling, usage)
        rule, min_success = self.decoding.allocator_rule()
        allocate = allocator_rule(router, task, qs, pool.members, context.fallback, context.allocator_sampling, usage,
                                  min_success, context.ladder, rule)
        recheck = None if self.recheck is None else Recheck(tuple(context.ladder), tau=self.recheck.tau,
                                                            alpha=context.recheck_alpha, agree=self.recheck.agree)
        return result(self, execute(pool, task, qs, plans, allocate, sampling, recheck), start, usage)
