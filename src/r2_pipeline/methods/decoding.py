"""The typed fields of an `r2` method: how its allocator is read (`Decoding`) and when an unsure
answer is asked again one rung up (`RecheckSpec`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .base import Spec


class Decoding(Spec):
    """`greedy`: the member the allocator names. `cheapest_likely`: the cheapest member whose
    estimated chance of answering the step (the allocator's own probabilities over member names)
    reaches `min_success`. `escalate`: the named member if its estimate reaches `min_success`, else
    the dearest member (reasoning/router.py ALLOCATOR_RULES)."""

    rule: Literal["cheapest_likely", "escalate", "greedy"] = "cheapest_likely"
    min_success: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def threshold_matches_rule(self):
        if self.rule == "greedy" and self.min_success is not None:
            raise ValueError(f"rule 'greedy' reads no min_success (got {self.min_success}): the allocator's named "
                             "member is taken as it is")
        if self.rule != "greedy" and self.min_success is None:
            raise ValueError(f"rule {self.rule!r} needs min_success, the threshold it reads the allocator at (rule "
                             "'greedy' reads none)")
        return self

    @classmethod
    def of(cls, rule: str, min_success: float | None) -> Decoding:
        """From the form of `evaluation.router` and `rl_refinement`, where a null min_success is greedy."""
        return cls(rule="greedy") if min_success is None else cls(rule=rule, min_success=min_success)

    def allocator_rule(self) -> tuple[str, float | None]:
        """(rule, min_success) as reasoning.router.allocator_rule reads them: greedy is no threshold."""
        return ("cheapest_likely", None) if self.rule == "greedy" else (self.rule, self.min_success)


def rule_needs_threshold(rule: str, min_success: float | None) -> None:
    """The form of `evaluation.router` and `rl_refinement` (a null min_success is greedy): `escalate`
    reads the allocator at a threshold; without one the allocator is read greedily and the rule would
    be silently ignored."""
    if rule != "cheapest_likely" and min_success is None:
        raise ValueError(f"rule {rule!r} needs min_success, the threshold it reads the allocator at (null is "
                         "greedy: the member the allocator names)")


class RecheckSpec(Spec):
    """A step whose answer is less sure than `tau` (a quantile of its token probabilities,
    `evaluation.router.recheck_alpha`) is asked again one rung up the ladder, and again while unsure,
    every call paid (reasoning/execute.py Recheck). With `agree`, an unsure answer that the rung
    below also gave stands."""

    tau: float = Field(gt=0, le=1)
    agree: bool = False
