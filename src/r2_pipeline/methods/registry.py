"""Method kinds by the name `evaluation.methods` gives them. Adding a kind: a Method subclass
(kinds.py or your own module) and one line here."""

from __future__ import annotations

from .base import Method
from .idealised import ExpectedOracle, LabelPolicy
from .kinds import R2, Oracle, QueryRouter, Random, Single, Tier

METHOD_KINDS: dict[str, type[Method]] = {
    "single": Single,
    "tier": Tier,
    "random": Random,
    "oracle": Oracle,
    "query_router": QueryRouter,
    "r2": R2,
    "label_policy": LabelPolicy,
    "expected_oracle": ExpectedOracle,
}
