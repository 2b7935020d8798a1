"""Two idealised routers that measure the room RL has on the micro world.

- `label_policy`: what a perfect imitator of the SFT data does. Each test question gets the plan
  data_generation would choose for it (the teacher's candidates, verified and scored on the
  evaluation member) and each subtask the member the grouped search labels (one try per member,
  with data_generation's seed), as for training.
- `expected_oracle`: knows each member's true success rate on each subtask (many samples) and
  every plan of each question (`labels.expected.plan_space`), and takes the plan and members that
  maximise the expected `accuracy - cost_lambda * cost / cost(largest)`. With `knows: bucket` it
  makes the same search knowing only each member's mean rate per difficulty bucket (over the
  test questions' subtasks): what a router can know that reads a subtask's kind but not a member's
  luck on that exact subtask.

Both are then run like any method, at the evaluation seed, and charged the router's tokens that R2
would spend on their plans (a decomposer call per question, an allocator call per subtask). Their
difference on the objective is what RL can gain over imitation; neither makes the allocator's
errors on unseen subtasks, which no training closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..labels.candidates import score_candidates
from ..labels.expected import Rates, best_choice, bucket_rates, measure_rates, plan_space
from ..labels.micro_labels import candidate_plans, label_subtasks, search_items, verify_plans
from ..pool.base import call_tokens
from ..reasoning.execute import execute
from ..reasoning.router import RouterUsage
from ..tasks import micro
from .base import Method, MethodResult, questions, result

MICRO_ONLY = "needs each subtask's exact answer, which only the micro world has"


def _by_step(members: list[list[str]]):
    """An `Allocate` that gives question i's step k the member members[i][k]."""
    return lambda idx, step, filled, histories: [members[i][step] for i in idx]


class RouterCharge:
    """The router's tokens and cost for a plan, counted with the final router's own tokenizers
    (`pool.base.call_tokens`) and priced as `pool.router_member`; zero where the context has no
    trained router."""

    def __init__(self, context, task):
        routers = getattr(context, "routers", {}) or {}
        pair = routers.get(context.final_router) if routers else None
        self.task, self.price = task, context.router_price or {}
        self.decomposer, self.allocator = pair if pair else (None, None)
        self.member_name = (context.ladder or ["t1"])[0]

    def _calls(self, question: str, plan: list[str], filled: list[str]) -> tuple[tuple, list[tuple]]:
        """(prompt, completion) tokens of the decomposer's call and of each allocator call."""
        decomposer = call_tokens(self.decomposer, self.task.decomposer_prompt(question),
                                 self.task.format_plan(plan, question))
        allocator = [call_tokens(self.allocator, self.task.allocator_prompt(question, [], f), self.member_name)
                     for f in filled]
        return decomposer, allocator

    def _usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price.get("input_per_m", 0.0)
                + completion_tokens * self.price.get("output_per_m", 0.0)) / 1e6

    def tokens(self, question: str, plan: list[str], filled: list[str]) -> tuple[int, int]:
        if self.decomposer is None:
            return 0, 0
        decomposer, allocator = self._calls(question, plan, filled)
        return (decomposer[0] + sum(p for p, _ in allocator), decomposer[1] + sum(c for _, c in allocator))

    def split(self, question: str) -> Callable[[list[str], list[str]], tuple[float, float]]:
        """(plan, filled) -> (the decomposer's cost, the allocator's cost per subtask), for best_choice."""
        def cost(plan: list[str], filled: list[str]) -> tuple[float, float]:
            if self.decomposer is None:
                return 0.0, 0.0
            decomposer, allocator = self._calls(question, plan, filled)
            return self._usd(*decomposer), sum(self._usd(*call) for call in allocator) / max(len(allocator), 1)
        return cost

    def usage(self, qs: list[str], plans: list[list[str]], filled: list[list[str]]) -> RouterUsage:
        usage = RouterUsage.empty(len(qs))
        for i, (q, plan, f) in enumerate(zip(qs, plans, filled)):
            prompt, completion = self.tokens(q, plan, f)
            usage.add(i, prompt, completion, self._usd(prompt, completion))
        return usage


def _data_generation(context) -> dict:
    spec = getattr(context, "data_generation", None)
    if not spec:
        raise ValueError("label_policy replays data_generation: the evaluation pipeline passes params:data_generation "
                         "in its method context")
    return spec


class LabelPolicy(Method):
    """The plan and the members the SFT data would give each test question (see the module)."""

    uses_router: ClassVar[bool] = True  # charged the final router's tokens
    micro_only: ClassVar[str | None] = MICRO_ONLY

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        start, spec, qs = time.time(), _data_generation(context), questions(examples)
        plans = chosen_plans(pool, task, examples, spec)
        members = labelled_members(pool, plans, context.ladder, spec["allocation"])
        filled = [[f for f, _ in micro.filled_subtasks(p)] for p in plans]
        traces = execute(pool, task, qs, plans, _by_step(members), sampling)
        return result(self, traces, start, RouterCharge(context, task).usage(qs, plans, filled))


def chosen_plans(pool, task, examples, spec: dict) -> list[list[str]]:
    """Per question, the candidate data_generation chooses: the best-scored among those the
    evaluation member verifies (one try, `decomposition.seed`), else the reference."""
    candidates = candidate_plans([task.reference_subtasks(e) for e in examples], spec["teacher"].get("variants", 0),
                                 spec["world"]["seed"])
    flat = [(i, c) for i, cands in enumerate(candidates) for c in cands]
    tokens, verified = verify_plans(pool, task, [examples[i].question for i, _ in flat],
                                    [examples[i].answer for i, _ in flat], [c for _, c in flat], spec["decomposition"])
    by_question: dict[int, list] = {}
    for (i, plan), spent, ok in zip(flat, tokens, verified):
        by_question.setdefault(i, []).append((plan, spent, ok))
    plans = []
    for i in range(len(examples)):
        rows = by_question[i]
        scored = score_candidates([p for p, _, _ in rows], [t for _, t, _ in rows], [v for _, _, v in rows],
                                  spec["decomposition"]["weights"])
        verified_rows = [s for s in scored if s.verified]
        plans.append(max(verified_rows, key=lambda s: s.score).subtasks if verified_rows else list(rows[0][0]))
    return plans


def labelled_members(pool, plans: list[list[str]], ladder: list[str], allocation: dict) -> list[list[str]]:
    """The grouped search's label for every subtask of every plan, with data_generation's settings."""
    return search_labels(pool, plans, ladder, allocation)[0]


def search_labels(pool, plans: list[list[str]], ladder: list[str], allocation: dict) -> tuple[list[list[str]], list[dict]]:
    """labelled_members, and the search's attempt rows (every paid call)."""
    items, rows = search_items(range(len(plans)), plans)
    attempts = label_subtasks(pool, ladder, items, allocation)
    members: list[list[str]] = [[] for _ in plans]
    for item, row in zip(items, rows):
        members[row["id"]].append(ladder[item.label])
    return members, attempts


class ExpectedOracle(Method):
    """The plan and members of highest expected objective, from true success rates (see the module)."""

    uses_router: ClassVar[bool] = True  # charged the router's tokens for its plans
    micro_only: ClassVar[str | None] = MICRO_ONLY
    cost_lambda: float | None = Field(default=None, ge=0)
    samples: int = Field(default=16, ge=1)
    knows: Literal["subtask", "bucket"] = "subtask"

    def default_name(self) -> str:
        name = self.kind if self.cost_lambda is None else f"{self.kind}@lambda={self.cost_lambda:g}"
        return name if self.knows == "subtask" else f"{name}@bucket"

    def resolve(self, evaluation) -> Method:
        if self.cost_lambda is not None:
            return self
        return self.model_copy(update={"cost_lambda": float(evaluation.get("cost_lambda", 0.5))})

    def tags(self, evaluation) -> dict[str, str]:
        return {"cost_lambda": str(self.cost_lambda), "samples": str(self.samples), "knows": self.knows}

    def family(self) -> str:
        return self.kind

    def run(self, pool, task, examples, sampling, context) -> MethodResult:
        start, qs = time.time(), questions(examples)
        choices = expected_choices(pool, task, examples, context.ladder, self.cost_lambda, self.samples,
                                   RouterCharge(context, task), knows=self.knows)
        plans, filled = [c.plan for c in choices], [c.filled for c in choices]
        traces = execute(pool, task, qs, plans, _by_step([c.members for c in choices]), sampling)
        return result(self, traces, start, RouterCharge(context, task).usage(qs, plans, filled))


def expected_choices(pool, task, examples, ladder: list[str], lam: float, samples: int,
                     charge: RouterCharge | None = None, rates: Rates | None = None,
                     knows: str = "subtask") -> list[Any]:
    """Each question's best (plan, members) by expected objective; `cost(largest)` is the expected
    cost of the dearest member doing every reference step, averaged over the questions. With
    `knows="bucket"` the search reads each subtask's bucket mean rate (labels.expected.bucket_rates)
    and the choices' accuracy and objective are what it expects from those."""
    spaces = [plan_space(task.reference_subtasks(e)) for e in examples]
    subtasks = [f for space in spaces for _, filled in space for f in filled]
    rates = rates or measure_rates(pool, subtasks, samples, ladder)
    if knows == "bucket":
        rates, _ = bucket_rates(rates, sorted(set(subtasks)), ladder)
    elif knows != "subtask":
        raise ValueError(f"knows={knows!r}: the oracle knows each 'subtask' or each 'bucket'")
    largest = ladder[-1]
    cost_largest = sum(sum(rates.cost(largest, f) for f in space[0][1]) for space in spaces) / len(spaces)
    no_router = lambda plan, filled: (0.0, 0.0)  # noqa: E731
    return [best_choice(space, rates, ladder, lam, cost_largest,
                        charge.split(e.question) if charge is not None else no_router)
            for e, space in zip(examples, spaces)]
