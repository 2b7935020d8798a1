"""RL rewards: final-answer correctness (binary, as in the paper), a cost penalty, a format reward.

Rewards are plain functions of outcomes; `make_rewards` wraps them in TRL's signature
`f(prompts, completions, **kwargs) -> list[float]`, looked up by name. Both rewards of one
completion share one execution through the environment's memo (and the pool's call cache).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..pool.base import SamplingParams
from ..pool.pool import ModelPool
from ..reasoning.execute import execute, final_value
from ..reasoning.router import RouterUsage, allocator_rule, validate_member


@dataclass(frozen=True)
class Outcome:
    """What one sampled completion led to: parseable? right? at what cost, against the dearest?"""

    parsed: bool
    correct: bool
    cost: float
    cost_largest: float


def correctness(outcomes: Sequence[Outcome]) -> list[float]:
    return [1.0 if o.correct else 0.0 for o in outcomes]


def cost_penalty(outcomes: Sequence[Outcome], lam: float) -> list[float]:
    """-lambda x (cost / cost of the same work on the largest pool member).

    An output that cannot be parsed ran nothing, but is charged the full -lambda, as if the largest
    member had done all its work: were it free, then at lambda > 1 a plan that cannot be parsed
    (-1) would outscore a parsed wrong one routed to dear members (down to -lambda), and GRPO would
    learn to write unparseable text."""
    return [-lam if not o.parsed else -lam * (o.cost / o.cost_largest) if o.cost_largest > 0 else 0.0
            for o in outcomes]


def format_reward(outcomes: Sequence[Outcome]) -> list[float]:
    """0 for a parseable decomposition or allocation, -1 for one that cannot be parsed."""
    return [0.0 if o.parsed else -1.0 for o in outcomes]


def completion_text(completion: Any) -> str:
    """TRL passes strings for plain prompts and message lists for conversational ones (a chat
    model's prompts and completions); the text is the messages' content."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion)
    return completion


class DecomposerEnv:
    """Decomposer phase: each sampled plan is executed by the routed reasoner with the frozen allocator."""

    def __init__(self, pool: ModelPool, router: ModelPool, task, gold: dict[str, tuple[str, Any]],
                 fallback: str, largest: str, sampling: SamplingParams, router_sampling: SamplingParams,
                 min_success: float | None = None, ladder: Sequence[str] | None = None,
                 rule: str = "cheapest_likely"):
        self.pool, self.router, self.task, self.gold = pool, router, task, gold
        self.fallback, self.largest = fallback, largest
        self.min_success, self.ladder, self.rule = min_success, ladder, rule
        self.sampling, self.router_sampling = sampling, router_sampling
        self.memo: dict[tuple[str, str], Outcome] = {}

    def outcomes(self, prompts: Sequence[str], completions: Sequence[Any]) -> list[Outcome]:
        keys = [(p, completion_text(c)) for p, c in zip(prompts, completions)]
        todo = sorted({k for k in keys if k not in self.memo})
        if todo:
            self.memo.update(zip(todo, self._run(todo)))
        return [self.memo[k] for k in keys]

    def _run(self, keys: list[tuple[str, str]]) -> list[Outcome]:
        return self._execute(self.task, keys, lambda prompt, final: final == self.gold[prompt][1])

    def _execute(self, task, keys: list[tuple[str, str]], right: Callable[[str, Any], bool]) -> list[Outcome]:
        """Execute each sampled plan with the frozen allocator; `right(prompt, final answer)` grades it."""
        questions = [self.gold[p][0] for p, _ in keys]
        plans = [task.parse_plan(text, q) for (_, text), q in zip(keys, questions)]
        usage = RouterUsage.empty(len(keys))
        allocate = allocator_rule(self.router, task, questions, self.pool.members, self.fallback,
                                  self.router_sampling, usage, self.min_success, self.ladder, self.rule)
        traces = execute(self.pool, task, questions, plans, allocate, self.sampling)
        largest = self.pool.prices[self.largest]
        out = []
        for (prompt, _), plan, trace in zip(keys, plans, traces):
            final = final_value(trace)
            correct = plan is not None and final is not None and right(prompt, final)
            cost = sum(t.cost_usd for t in trace)
            cost_largest = sum(largest.cost(t.prompt_tokens, t.completion_tokens) for t in trace)
            out.append(Outcome(plan is not None, bool(correct), cost, cost_largest))
        return out


class BenchmarkDecomposerEnv(DecomposerEnv):
    """Decomposer phase on real benchmarks: `gold[prompt]` is (question, Example, task). A plan is
    right when the benchmark's own grader gives its final answer 1.0. Each benchmark's rollouts run
    together: each builds its subtask prompts and parses its answers its own way."""

    def _run(self, keys: list[tuple[str, str]]) -> list[Outcome]:
        by_task: dict[str, list[int]] = defaultdict(list)
        for j, (prompt, _) in enumerate(keys):
            by_task[self.gold[prompt][2].name].append(j)
        out: list[Outcome | None] = [None] * len(keys)
        for rows in by_task.values():
            task = self.gold[keys[rows[0]][0]][2]
            outcomes = self._execute(task, [keys[j] for j in rows],
                                     lambda prompt, final, _t=task: _t.grade(final, self.gold[prompt][1]) >= 1.0)
            for j, outcome in zip(rows, outcomes):
                out[j] = outcome
        return out  # type: ignore[return-value]


class AllocatorEnv:
    """Allocator phase: each sampled member is run on its subtask (earlier values substituted).

    A micro subtask's value is exact, so a step that the chosen member gets wrong makes the final
    answer wrong whatever the other steps do; the verified step stands in for the final answer.
    `gold[prompt]` is (subtask, value) or (subtask, value, steps in its question): with the step
    count, the cost is measured against the largest member answering the whole question (every
    micro step costs the same tokens), the scale the decomposer phase and evaluation use; without
    it, against the largest member answering this step, a penalty as many times harsher.
    """

    def __init__(self, pool: ModelPool, task, gold: dict[str, tuple[str, Any]], largest: str,
                 sampling: SamplingParams):
        self.pool, self.task, self.gold, self.largest, self.sampling = pool, task, gold, largest, sampling
        self.memo: dict[tuple[str, str], Outcome] = {}

    def outcomes(self, prompts: Sequence[str], completions: Sequence[Any]) -> list[Outcome]:
        keys = [(p, completion_text(c)) for p, c in zip(prompts, completions)]
        todo = sorted({k for k in keys if k not in self.memo})
        by_member: dict[str, list[tuple[str, str]]] = {}
        for key in todo:
            member = validate_member(key[1], self.pool.members)
            if member is None:
                self.memo[key] = Outcome(False, False, 0.0, 0.0)
            else:
                by_member.setdefault(member, []).append(key)
        largest = self.pool.prices[self.largest]
        for member, group in by_member.items():
            subtasks = [self.gold[p][0] for p, _ in group]
            prompts_ = [self.task.subtask_prompt("", [], s) for s in subtasks]
            for key, prompt, out in zip(group, prompts_, self.pool.generate(member, prompts_, self.sampling)):
                value = self.task.parse_subtask(prompt, out.text)
                steps = self.gold[key[0]][2] if len(self.gold[key[0]]) > 2 else 1
                self.memo[key] = Outcome(True, value is not None and value == self.gold[key[0]][1],
                                         self.pool.cost(member, out),
                                         steps * largest.cost(out.prompt_tokens, out.completion_tokens))
        return [self.memo[k] for k in keys]


class ReviewedAllocatorEnv:
    """Allocator phase on real benchmarks: the sampled member answers the subtask in the context of
    the evaluation member's earlier answers, and a reviewer's verdict on that answer stands in for
    the final answer, as the exact value does in micro (the SFT labels were verified the same way).

    `gold[prompt]` is (task, question, history, subtask, steps in its plan); `verify` takes
    (question, subtask, answer) triples and returns (verdict, reply) pairs (`teacher.review`). The
    cost is scaled by the plan's step count, as in `AllocatorEnv`.
    """

    def __init__(self, pool: ModelPool, gold: dict[str, tuple], largest: str, sampling: SamplingParams,
                 verify: Callable[[list[tuple[str, str, Any]]], list[tuple[bool, str | None]]]):
        self.pool, self.gold, self.largest, self.sampling, self.verify = pool, gold, largest, sampling, verify
        self.memo: dict[tuple[str, str], Outcome] = {}

    def outcomes(self, prompts: Sequence[str], completions: Sequence[Any]) -> list[Outcome]:
        keys = [(p, completion_text(c)) for p, c in zip(prompts, completions)]
        groups: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for key in sorted({k for k in keys if k not in self.memo}):
            member = validate_member(key[1], self.pool.members)
            if member is None:
                self.memo[key] = Outcome(False, False, 0.0, 0.0)
            else:
                groups[(member, self.gold[key[0]][0].name)].append(key)
        largest = self.pool.prices[self.largest]
        for (member, _), group in groups.items():
            task = self.gold[group[0][0]][0]
            contexts = [self.gold[p] for p, _ in group]
            asked = [task.subtask_prompt(question, [tuple(h) for h in history], subtask)
                     for _, question, history, subtask, _ in contexts]
            outs = self.pool.generate(member, asked, self.sampling)
            answers = [task.parse_subtask(p, o.text) for p, o in zip(asked, outs)]
            verdicts = self.verify([(task.context(c[1]), c[3], a) for c, a in zip(contexts, answers)])
            for key, context, out, (ok, _) in zip(group, contexts, outs, verdicts):
                self.memo[key] = Outcome(True, bool(ok), self.pool.cost(member, out),
                                         context[4] * largest.cost(out.prompt_tokens, out.completion_tokens))
        return [self.memo[k] for k in keys]


def make_rewards(names: Sequence[str], env, lam: float) -> list[Callable]:
    """TRL reward functions by name, all reading the same environment."""
    table = {
        "correctness": correctness,
        "cost": lambda outs: cost_penalty(outs, lam),
        "format": format_reward,
    }
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown reward functions {unknown}; known: {sorted(table)}")
    funcs = []
    for name in names:
        def reward(prompts, completions, _score=table[name], **kwargs):
            return _score(env.outcomes([completion_text(p) for p in prompts], completions))

        reward.__name__ = name
        funcs.append(reward)
    return funcs
