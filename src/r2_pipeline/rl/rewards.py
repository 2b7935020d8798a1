"""RL rewards: final-answer correctness (binary, as in the paper), a cost penalty, a format reward.

Rewards are plain functions of outcomes; `make_rewards` wraps them in TRL's signature
`f(prompts, completions, **kwargs) -> list[float]`, looked up by name. An environment runs every
rollout of a GRPO batch with fresh, seeded member samples, once: the reward functions of that batch
read the same outcomes, and the next batch samples afresh, so GRPO sees each plan's or member's
expected reward, not one cached draw.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..pool.base import SamplingParams, call_tokens
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



# Seeds of the member calls in batch b: seed + b * STRIDE + j, for the j-th occurrence of a
# (prompt, completion) in the batch; calls of one seed go out together, one batch per member.
STRIDE = 10_000

Key = tuple[str, str]  # (prompt, completion text)


def occurrences(keys: Sequence[Key]) -> list[int]:
    """For each row, how often its (prompt, completion) came earlier in the batch."""
    seen: Counter = Counter()
    out = []
    for key in keys:
        out.append(seen[key])
        seen[key] += 1
    return out


class SampledEnv:
    """Scores GRPO batches. Batch b (counted from 0) runs the j-th occurrence of a (prompt,
    completion) with member seed `seed + b * STRIDE + j`: every rollout draws its own samples, and
    a rerun draws the same ones.

    The outcomes of a batch are shared by the reward functions reading it (`reader`, one per
    function): TRL calls each function once per batch with the same lists, so a reader that
    asks again is the next batch, even for identical lists. Without a reader, every call is a batch.
    Subclasses run the distinct keys of one seed (`_run`)."""

    def __init__(self, seed: int = 0):
        self.seed, self.batches = seed, 0
        self._last: tuple[list[Key], list[Outcome], set] | None = None

    def outcomes(self, prompts: Sequence[str], completions: Sequence[Any],
                 reader: Hashable | None = None) -> list[Outcome]:
        keys = [(p, completion_text(c)) for p, c in zip(prompts, completions)]
        last = self._last
        if reader is not None and last is not None and last[0] == keys and reader not in last[2]:
            last[2].add(reader)
            return list(last[1])
        outcomes = self._score(keys, self.batches)
        self.batches += 1
        self._last = (keys, outcomes, {reader})
        return list(outcomes)

    def member_seed(self, batch: int, occurrence: int) -> int:
        return self.seed + batch * STRIDE + occurrence

    def canonical(self, key: Key) -> Hashable:
        """What a rollout means: two completions that mean the same (a member name with or without
        a space, one plan written two ways) are repeats of one rollout, each with its own draws."""
        return key

    def _score(self, keys: list[Key], batch: int) -> list[Outcome]:
        repeats = occurrences([self.canonical(k) for k in keys])
        if repeats and max(repeats) >= STRIDE:
            raise ValueError(f"a batch repeats one rollout {max(repeats) + 1} times; its seeds would reach the next "
                             f"batch's (STRIDE {STRIDE})")
        out: list[Outcome | None] = [None] * len(keys)
        for j in sorted(set(repeats)):
            rows = [i for i, r in enumerate(repeats) if r == j]
            for i, outcome in zip(rows, self._run([keys[i] for i in rows], self.member_seed(batch, j))):
                out[i] = outcome
        return out  # type: ignore[return-value]

    def _run(self, keys: list[Key], seed: int) -> list[Outcome]:
        """The outcomes of distinct keys, their member calls sampled with `seed`."""
        raise NotImplementedError


class DecomposerEnv(SampledEnv):
    """Decomposer phase: each sampled plan is executed by the routed reasoner with the frozen
    allocator (decoding with `router_sampling`, unseeded: its rule reads the allocator's
    probabilities); the members answer with `sampling` at the rollout's seed.

    With `cost_scale` (micro: the largest member's cost on a question's reference plan, averaged
    over the phase's questions), a rollout's cost is what evaluation's objective counts: its
    members' calls plus the router's (an allocator call per subtask, the decomposer's own call),
    against that one scale, so a plan that saves subtasks saves cost. Without it (real benchmarks),
    the members' calls against the largest member on the same calls."""

    def __init__(self, pool: ModelPool, router: ModelPool, task, gold: dict[str, tuple[str, Any]],
                 fallback: str, largest: str, sampling: SamplingParams, router_sampling: SamplingParams,
                 min_success: float | None = None, ladder: Sequence[str] | None = None,
                 rule: str = "cheapest_likely", seed: int = 0, cost_scale: float | None = None):
        super().__init__(seed)
        self.pool, self.router, self.task, self.gold = pool, router, task, gold
        self.fallback, self.largest = fallback, largest
        self.min_success, self.ladder, self.rule = min_success, ladder, rule
        self.sampling, self.router_sampling = sampling, router_sampling
        self.cost_scale = cost_scale

    def _decomposer_cost(self, prompt: str, text: str) -> float:
        """The decomposer's own call for this plan, counted with its tokenizer (0 where it has none)."""
        tokens = call_tokens(self.router.backends.get("decomposer"), prompt, text)
        return 0.0 if tokens is None else self.router.prices["decomposer"].cost(*tokens)

    def canonical(self, key: Key) -> Hashable:
        gold = self.gold[key[0]]
        task = self.task if self.task is not None else gold[2]  # a benchmark's: (question, example, task)
        plan = task.parse_plan(key[1], gold[0])
        return key if plan is None else (key[0], tuple(plan))

    def _run(self, keys: list[Key], seed: int) -> list[Outcome]:
        return self._execute(self.task, keys, lambda prompt, final: final == self.gold[prompt][1], seed)

    def _execute(self, task, keys: list[Key], right: Callable[[str, Any], bool], seed: int) -> list[Outcome]:
        """Execute each sampled plan with the frozen allocator; `right(prompt, final answer)` grades it."""
        questions = [self.gold[p][0] for p, _ in keys]
        plans = [task.parse_plan(text, q) for (_, text), q in zip(keys, questions)]
        usage = RouterUsage.empty(len(keys))
        allocate = allocator_rule(self.router, task, questions, self.pool.members, self.fallback,
                                  self.router_sampling, usage, self.min_success, self.ladder, self.rule)
        traces = execute(self.pool, task, questions, plans, allocate, replace(self.sampling, seed=seed))
        largest = self.pool.prices[self.largest]
        out = []
        for i, ((prompt, text), plan, trace) in enumerate(zip(keys, plans, traces)):
            final = final_value(trace)
            correct = plan is not None and final is not None and right(prompt, final)
            cost = sum(t.cost_usd for t in trace)
            if self.cost_scale is not None:
                cost += usage.cost_usd[i] + self._decomposer_cost(prompt, text)
                cost_largest = self.cost_scale
            else:
                cost_largest = sum(largest.cost(t.prompt_tokens, t.completion_tokens) for t in trace)
            out.append(Outcome(plan is not None, bool(correct), cost, cost_largest))
        return out


class BenchmarkDecomposerEnv(DecomposerEnv):
    """Decomposer phase on real benchmarks: `gold[prompt]` is (question, Example, task). A plan is
    right when the benchmark's own grader gives its final answer 1.0. Each benchmark's rollouts run
    together: each builds its subtask prompts and parses its answers its own way."""

    def _run(self, keys: list[Key], seed: int) -> list[Outcome]:
        by_task: dict[str, list[int]] = defaultdict(list)
        for j, (prompt, _) in enumerate(keys):
            by_task[self.gold[prompt][2].name].append(j)
        out: list[Outcome | None] = [None] * len(keys)
        for rows in by_task.values():
            task = self.gold[keys[rows[0]][0]][2]
            outcomes = self._execute(task, [keys[j] for j in rows],
                                     lambda prompt, final, _t=task: _t.grade(final, self.gold[prompt][1]) >= 1.0, seed)
            for j, outcome in zip(rows, outcomes):
                out[j] = outcome
        return out  # type: ignore[return-value]


UNPARSED = Outcome(False, False, 0.0, 0.0)  # an allocation that names no pool member: nothing runs


def by_member(keys: Sequence[Key], members: Sequence[str]) -> tuple[dict[Key, Outcome], dict[str, list[Key]]]:
    """Sampled allocations: those naming no member (already scored), the others grouped by member."""
    unparsed, groups = {}, defaultdict(list)
    for key in keys:
        member = validate_member(key[1], members)
        if member is None:
            unparsed[key] = UNPARSED
        else:
            groups[member].append(key)
    return unparsed, groups


def member_key(key: Key, members: Sequence[str]) -> Hashable:
    """A sampled allocation by the member it names (its text when it names none)."""
    return (key[0], validate_member(key[1], members) or key[1])


class AllocatorEnv(SampledEnv):
    """Allocator phase: each sampled member is run on its subtask (earlier values substituted).

    A micro subtask's value is exact, so a step that the chosen member gets wrong makes the final
    answer wrong whatever the other steps do; the verified step stands in for the final answer.
    `gold[prompt]` is (subtask, value) or (subtask, value, steps in its question): with the step
    count, the cost is measured against the largest member answering the whole question (every
    micro step costs the same tokens), the scale the decomposer phase and evaluation use; without
    it, against the largest member answering this step, a penalty as many times harsher.
    """

    def __init__(self, pool: ModelPool, task, gold: dict[str, tuple[str, Any]], largest: str,
                 sampling: SamplingParams, seed: int = 0):
        super().__init__(seed)
        self.pool, self.task, self.gold, self.largest, self.sampling = pool, task, gold, largest, sampling

    def canonical(self, key: Key) -> Hashable:
        return member_key(key, self.pool.members)

    def _run(self, keys: list[Key], seed: int) -> list[Outcome]:
        out, groups = by_member(keys, self.pool.members)
        for member, group in groups.items():
            out.update(self._ask(member, group, replace(self.sampling, seed=seed)))
        return [out[k] for k in keys]

    def _ask(self, member: str, group: list[Key], sampling: SamplingParams) -> dict[Key, Outcome]:
        largest = self.pool.prices[self.largest]
        asked = [self.task.subtask_prompt("", [], self.gold[p][0]) for p, _ in group]
        out = {}
        for key, prompt, answer in zip(group, asked, self.pool.generate(member, asked, sampling)):
            gold = self.gold[key[0]]
            value = self.task.parse_subtask(prompt, answer.text)
            steps = gold[2] if len(gold) > 2 else 1
            out[key] = Outcome(True, value is not None and value == gold[1], self.pool.cost(member, answer),
                               steps * largest.cost(answer.prompt_tokens, answer.completion_tokens))
        return out


class ReviewedAllocatorEnv(SampledEnv):
    """Allocator phase on real benchmarks: the sampled member answers the subtask in the context of
    the evaluation member's earlier answers, and a reviewer's verdict on that answer stands in for
    the final answer, as the exact value does in micro (the SFT labels were verified the same way).

    `gold[prompt]` is (task, question, history, subtask, steps in its plan); `verify` takes
    (question, subtask, answer) triples and returns (verdict, reply) pairs (`teacher.review`). The
    cost is scaled by the plan's step count, as in `AllocatorEnv`. The members answer at the
    rollout's seed; the reviewer judges as `verify` is set.
    """

    def __init__(self, pool: ModelPool, gold: dict[str, tuple], largest: str, sampling: SamplingParams,
                 verify: Callable[[list[tuple[str, str, Any]]], list[tuple[bool, str | None]]], seed: int = 0):
        super().__init__(seed)
        self.pool, self.gold, self.largest, self.sampling, self.verify = pool, gold, largest, sampling, verify

    def canonical(self, key: Key) -> Hashable:
        return member_key(key, self.pool.members)

    def _run(self, keys: list[Key], seed: int) -> list[Outcome]:
        out, groups = by_member(keys, self.pool.members)
        by_task: dict[tuple[str, str], list[Key]] = defaultdict(list)
        for member, group in groups.items():
            for key in group:
                by_task[(member, self.gold[key[0]][0].name)].append(key)
        for (member, _), group in by_task.items():
            out.update(self._ask(member, group, replace(self.sampling, seed=seed)))
        return [out[k] for k in keys]

    def _ask(self, member: str, group: list[Key], sampling: SamplingParams) -> dict[Key, Outcome]:
        task, largest = self.gold[group[0][0]][0], self.pool.prices[self.largest]
        contexts = [self.gold[p] for p, _ in group]
        asked = [task.subtask_prompt(question, [tuple(h) for h in history], subtask)
                 for _, question, history, subtask, _ in contexts]
        answers = self.pool.generate(member, asked, sampling)
        values = [task.parse_subtask(p, a.text) for p, a in zip(asked, answers)]
        verdicts = self.verify([(task.context(c[1]), c[3], v) for c, v in zip(contexts, values)])
        return {key: Outcome(True, bool(ok), self.pool.cost(member, answer),
                             context[4] * largest.cost(answer.prompt_tokens, answer.completion_tokens))
                for key, context, answer, (ok, _) in zip(group, contexts, answers, verdicts)}


def make_rewards(names: Sequence[str], env, lam: float) -> list[Callable]:
    """TRL reward functions by name, all reading the same environment: each function is one reader
    of a batch's outcomes (its position, so a name listed twice reads as two functions)."""
    table = {
        "correctness": correctness,
        "cost": lambda outs: cost_penalty(outs, lam),
        "format": format_reward,
    }
    unknown = [n for n in names if n not in table]
    if unknown:
        raise ValueError(f"unknown reward functions {unknown}; known: {sorted(table)}")
    funcs = []
    for position, name in enumerate(names):
        def reward(prompts, completions, _score=table[name], _reader=position, **kwargs):
            return _score(env.outcomes([completion_text(p) for p in prompts], completions, _reader))

        reward.__name__ = name
        funcs.append(reward)
    return funcs
