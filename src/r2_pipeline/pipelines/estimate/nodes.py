"""Nodes of `estimate`: the calls, tokens and dollars that the configured runs of the stages that
call the pool imply, counted before any call is sent.

A prompt the configuration fixes is counted as the run would send it (basis `prompts`): a benchmark
question as its task renders it, a teacher prompt, the micro world's steps (earlier answers taken as
exact: a micro step's prompt has the same length whatever they are). What a router or a teacher has
not written yet stands on `estimate.assumptions` (basis `assumed`): how many subtasks a plan has,
how long a subtask and an answer are, which member an allocator not yet trained picks. Completions
are counted at `max_new_tokens`: an upper bound, the one the spending cap checks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from ...labels.candidates import VERIFY_SEED
from ...labels.grouped_search import SEARCH_SEED, try_sampling
from ...labels.micro_labels import search_tries
from ...labels.teacher import REVIEW, teacher_prompt
from ...methods import Method, benchmark_methods
from ...pool.base import SamplingParams, sampling_from
from ...pool.estimate import TOTAL, Tally, counting_backends, existing_cache
from ...pool.factory import ladder_order
from ...pool.prices import PriceTable
from ...tasks import micro
from ...tasks.base import Example, get_task
from ...tasks.benchmark import STEP_SAMPLING, BenchmarkTask
from ..data_generation.nodes import (
    OUTCOMES_SEED,
    generate_world,
    member_sampling,
    propose_decompositions,
)
from ..evaluation.nodes import evaluation_seeds, load_benchmark
from ..rl_refinement import ROUNDS, trained_routers
from .params import EstimateParams

logger = logging.getLogger(__name__)

# text that stands in for a subtask or an answer not written yet: plain words, which tokenizers
# count about as they count real text (a run of one letter would merge into a few tokens)
FILLER = "find the value that the earlier steps give and use it in this step of the problem "


@dataclass
class Step:
    """One subtask of one question as a member is asked it."""

    question: str
    history: list[tuple[str, Any]]
    subtask: str


@dataclass
class Context:
    """What the stages read: the parameter blocks, the micro world, the assumptions, the ladder."""

    pool: dict
    evaluation: dict
    data_generation: dict
    assumptions: dict
    world: dict[str, pd.DataFrame]
    rl_refinement: dict | None = None

    @property
    def ladder(self) -> list[str]:
        return ladder_order(self.pool)

    @property
    def rounds(self) -> int:
        """rl_refinement.rounds: GRPO rounds per lambda slot, and the r2_round_<k> methods may name."""
        return (self.rl_refinement or {}).get("rounds", ROUNDS)

    def routers(self) -> list[str]:
        return list(trained_routers(self.rounds))

    def shares(self) -> dict[str, float]:
        """Which members an allocator not yet trained picks, as a share of the steps."""
        allocation = self.assumptions["allocation"]
        if allocation == "dearest":
            return {self.ladder[-1]: 1.0}
        if allocation == "uniform":
            return {m: 1.0 / len(self.ladder) for m in self.ladder}
        total = sum(allocation.values())
        return {m: share / total for m, share in allocation.items()}


def filler(label: str, chars: int) -> str:
    """`label`, then plain words up to `chars` characters in all."""
    text = f"[{label}] "
    return (text + FILLER * (chars // len(FILLER) + 1))[: max(chars, len(text))]


def reference_steps(task, example: Example) -> list[Step]:
    """The task's own plan of a question (a real benchmark's: the question itself, one step), each
    step with the exact values of the earlier ones where the task knows them (the micro world)."""
    history: list[tuple[str, Any]] = []
    steps = []
    for k, subtask in enumerate(task.reference_subtasks(example)):
        filled = subtask if k == 0 else task.substitute(subtask, [v for _, v in history])
        if filled is None:
            break
        steps.append(Step(example.question, list(history), filled))
        exact = getattr(task, "exact_subtask", None)
        history.append((filled, exact(filled) if exact else None))
    return steps


def assumed_steps(example: Example, author: str, assumptions: dict) -> list[Step]:
    """A plan not written yet: `subtasks_per_question` subtasks of `subtask_chars` characters, each
    later one shown the earlier ones with answers of `answer_chars`. `author` (a router, a teacher's
    candidate) is in the text, so two authors' plans are never taken for one."""
    subtasks = [filler(f"{author} subtask {k + 1}", assumptions["subtask_chars"])
                for k in range(assumptions["subtasks_per_question"])]
    answer = filler("answer", assumptions["answer_chars"])
    return [Step(example.question, [(s, answer) for s in subtasks[:k]], subtask) for k, subtask in enumerate(subtasks)]


def plan_steps(task, example: Example, author: str | None, assumptions: dict) -> tuple[list[Step], bool]:
    """A question's steps and whether they are assumed: the reference plan for `author` None; a
    router's plan is assumed to be the reference in the micro world (it learnt it), else
    `assumed_steps`."""
    if author is None:
        return reference_steps(task, example), False
    if task.name == "micro":
        return reference_steps(task, example), True
    return assumed_steps(example, author, assumptions), True


def by_shares(count: int, shares: dict[str, float]) -> list[str]:
    """`count` picks split among members by `shares`, in order (step j takes the member whose share
    interval holds (j + 0.5) / count)."""
    bounds, total = [], 0.0
    for member, share in shares.items():
        total += share
        bounds.append((total, member))
    return [next((m for edge, m in bounds if (j + 0.5) / count <= edge + 1e-12), bounds[-1][1]) for j in range(count)]


def prompts(task, steps: Iterable[Step]) -> list[str]:
    return [task.subtask_prompt(s.question, s.history, s.subtask) for s in steps]


# ----- evaluation methods: which plan, which members per step, which router calls


def members_per_step(method: Method, ctx: Context, count: int) -> list[list[str]]:
    """The members each of `count` steps is sent to (an upper bound where a method climbs the ladder)."""
    ladder, kind = ctx.ladder, method.kind
    if kind in ("single", "tier"):
        return [[method.member]] * count
    if kind in ("oracle", "label_policy", "expected_oracle"):  # they may ask every rung of a step
        return [ladder] * count
    shares = {m: 1.0 / len(ladder) for m in ladder} if kind == "random" else ctx.shares()
    picks = by_shares(count, shares)
    if getattr(method, "recheck", None) is not None:  # an unsure step climbs: every rung above may be asked
        return [ladder[ladder.index(m):] for m in picks]
    return [[m] for m in picks]


REFERENCE_PLANS = ("single", "query_router", "label_policy", "expected_oracle")


def method_calls(tally: Tally, stage: str, method: Method, task, examples: list[Example], sampling: SamplingParams,
                 ctx: Context) -> None:
    """Every call `method` makes on `examples` under each evaluation seed."""
    author = None if method.kind in REFERENCE_PLANS else method.trained_router(ctx.routers()[-1])
    samples = getattr(method, "samples", 1) if method.kind == "expected_oracle" else 1
    planned = [plan_steps(task, example, author, ctx.assumptions) for example in examples]
    steps = [s for found, _ in planned for s in found]
    assumed = any(a for _, a in planned)
    asked = members_per_step(method, ctx, len(steps))
    by_member = {m: prompts(task, [s for s, members in zip(steps, asked) if m in members]) for m in ctx.ladder}
    for seed in evaluation_seeds(ctx.evaluation):
        for member, mine in by_member.items():
            for draw in range(samples):
                tally.add(stage, member, mine, replace(sampling, seed=seed + draw), assumed)
        if author is not None:
            router_calls(tally, stage, method, author, task, examples, steps, ctx)


def router_calls(tally: Tally, stage: str, method: Method, author: str, task, examples: list[Example],
                 steps: list[Step], ctx: Context) -> None:
    """The trained router's own calls, priced as `pool.router_member`: a plan per question, and
    (`r2`) a member name per step."""
    member, router = ctx.pool.get("router_member"), ctx.evaluation.get("router") or {}
    if member is None:
        return
    plan = sampling_from(router.get("sampling"), max_new_tokens=64)
    tally.add(stage, member, [task.decomposer_prompt(e.question) for e in examples], plan,
              identity=f"{author}/decomposer")
    if method.kind == "r2":
        allocator = sampling_from(router.get("allocator_sampling"), max_new_tokens=4)
        tally.add(stage, member, [task.allocator_prompt(s.question, s.history, s.subtask) for s in steps],
                  allocator, assumed=True, identity=f"{author}/allocator")


def evaluate_stage(tally: Tally, stage: str, ctx: Context, keep: Callable[[Method], bool]) -> None:
    """The calls of the methods `keep` takes. The micro benchmark reads the world's test split as
    `evaluation` does; `evaluation_baselines` reads `benchmarks.micro.source` where it is set."""
    members, routers = list(ctx.pool["members"]), ctx.routers()
    for benchmark, spec in ctx.evaluation["benchmarks"].items():
        methods = [m for m in benchmark_methods(ctx.evaluation, benchmark, members, routers) if keep(m)]
        if not methods:
            continue
        own_source = stage == "evaluation_baselines" and (spec or {}).get("source")
        task, examples, sampling = load_benchmark(benchmark, ctx.evaluation, None if own_source else ctx.world["test"])
        for method in methods:
            method_calls(tally, stage, method, task, examples, sampling, ctx)


def evaluation_baselines(tally: Tally, ctx: Context) -> None:
    evaluate_stage(tally, "evaluation_baselines", ctx, lambda m: m.runs_before_training)


def evaluation(tally: Tally, ctx: Context) -> None:
    evaluate_stage(tally, "evaluation", ctx, lambda m: True)


# ----- data_generation


def data_generation(tally: Tally, ctx: Context) -> None:
    if ctx.data_generation["teacher"]["kind"] == "endpoint":
        endpoint_teacher(tally, ctx)
    else:
        reference_teacher(tally, ctx)


def reference_teacher(tally: Tally, ctx: Context) -> None:
    """Micro: every candidate run on the evaluation member, a grouped search over the reference
    plan's steps (every rung may be asked: a bound), every member on every training question."""
    spec, stage, task = ctx.data_generation, "data_generation", get_task("micro")
    train = ctx.world["train"]
    candidates = propose_decompositions(train, spec, {}, ctx.pool)
    plans = [micro.filled_subtasks(json.loads(s)) or [] for s in candidates["subtasks"]]
    verify = member_sampling(spec["decomposition"].get("seed", VERIFY_SEED))
    tally.add(stage, spec["decomposition"]["evaluation_member"],
              [micro.member_prompt(f) for plan in plans for f, _ in plan], verify)
    steps = [s for e in task.load(train) for s in reference_steps(task, e)]
    search = member_sampling(spec["allocation"].get("seed", SEARCH_SEED))
    grouped_search_calls(tally, stage, ctx, prompts(task, steps), search)
    outcomes = member_sampling(OUTCOMES_SEED)
    for member in ctx.ladder:
        tally.add(stage, member, prompts(task, steps), outcomes)


def grouped_search_calls(tally: Tally, stage: str, ctx: Context, asked: list[str], sampling: SamplingParams,
                         assumed: bool = False) -> None:
    """The baseline's probe (with log-probabilities) and every other rung, each rung asked `tries`
    times (the probe is the baseline's first): the search's upper bound."""
    allocation = ctx.data_generation["allocation"]
    baseline, tries = allocation["baseline"], search_tries(allocation)["tries"]
    tally.add(stage, baseline, asked, replace(sampling, logprobs=True), assumed)
    for member in ctx.ladder:
        for j in range(1 if member == baseline else 0, tries):
            tally.add(stage, member, asked, try_sampling(sampling, j), assumed)


def endpoint_teacher(tally: Tally, ctx: Context) -> None:
    """Paper: the teacher's prompts (real), its candidates run on the evaluation member, and the
    grouped search over one chosen candidate per question with a review of every answer (assumed)."""
    spec, stage = ctx.data_generation, "data_generation"
    teacher = spec["teacher"]
    sampling = sampling_from(teacher.get("sampling"))
    scoring = sampling_from(spec["decomposition"].get("sampling"), **STEP_SAMPLING)
    search = sampling_from(spec["allocation"].get("sampling"), **STEP_SAMPLING)
    for name, source in teacher["benchmarks"].items():
        task = get_task(name)
        examples = task.load(source.get("source"), source["split"], source.get("limit"))
        shots = task.worked_decompositions[: teacher["few_shot"]]
        for v in range(teacher["variants"]):
            tally.add(stage, teacher["member"], [teacher_prompt(e.question, shots) for e in examples],
                      replace(sampling, seed=sampling.seed + v))
            steps = [s for e in examples for s in assumed_steps(e, f"teacher candidate {v}", ctx.assumptions)]
            tally.add(stage, spec["decomposition"]["evaluation_member"], prompts(task, steps), scoring, assumed=True)
        chosen = [s for e in examples for s in assumed_steps(e, "teacher candidate 0", ctx.assumptions)]
        grouped_search_calls(tally, stage, ctx, prompts(task, chosen), search, assumed=True)
        review_calls(tally, stage, ctx, task, chosen)


def review_calls(tally: Tally, stage: str, ctx: Context, task, steps: Sequence[Step]) -> None:
    """One review per (step, member asked it, try): the reviewer reads the member's answer."""
    allocation = ctx.data_generation["allocation"]
    reviewer = allocation.get("reviewer")
    if not reviewer:
        return
    sampling = sampling_from(reviewer.get("sampling"), max_new_tokens=16)
    tries = search_tries(allocation)["tries"]
    answers = [f"{member}'s answer" + (f" {j}" if tries > 1 else "") for member in ctx.ladder for j in range(tries)]
    asked = [REVIEW.format(question=task.context(s.question), subtask=s.subtask,
                           answer=filler(answer, ctx.assumptions["answer_chars"]))
             for s in steps for answer in answers]
    tally.add(stage, reviewer["member"], asked, sampling, assumed=True)


# ----- rl_refinement


def rl_refinement(tally: Tally, ctx: Context) -> None:
    """Every round of every lambda slot: the decomposer phase executes each sampled plan (the frozen
    allocator names a member per step), the allocator phase asks the sampled member one step (a
    reviewer judges it, on real benchmarks). Every rollout is a plan of its own: none is cached."""
    rl, stage = ctx.rl_refinement, "rl_refinement"
    runs = ctx.rounds * (1 + len(rl.get("lambda_sweep") or []))
    micro_world = ctx.data_generation["teacher"]["kind"] == "reference"
    task = get_task("micro") if micro_world else BenchmarkTask()
    sampling = member_sampling(0) if micro_world else sampling_from(rl.get("sampling"), **STEP_SAMPLING)
    examples = task.load(ctx.world["train"]) if micro_world else [
        Example(f"q{i}", filler(f"training question {i}", ctx.assumptions["question_chars"]), None)
        for i in range(rl["decomposer"]["questions"])]
    for run in range(runs):
        plans = phase_steps(task, examples, rollouts(rl["decomposer"]["trainer"], ctx), f"run {run} decomposer", ctx)
        rollout_calls(tally, stage, ctx, task, plans, sampling, seed=2 * run * ROLLOUT_SEEDS)
        allocator_calls(tally, stage, ctx, task, plans, rl, f"run {run}")
        asked = phase_steps(task, examples, rollouts(rl["allocator"]["trainer"], ctx), f"run {run} allocator", ctx,
                            whole_plans=False)
        rollout_calls(tally, stage, ctx, task, asked, sampling, seed=(2 * run + 1) * ROLLOUT_SEEDS)
        if rl.get("reviewer") and not micro_world:
            answer = filler("answer", ctx.assumptions["answer_chars"])
            tally.add(stage, rl["reviewer"]["member"],
                      [REVIEW.format(question=s.question, subtask=s.subtask, answer=answer) for s in asked],
                      sampling_from(rl["reviewer"].get("sampling"), max_new_tokens=16), assumed=True)


ROLLOUT_SEEDS = 1_000_000  # seeds of one phase's member samples, apart from another's


def rollouts(trainer: dict, ctx: Context) -> int:
    """Completions a GRPO phase samples, each a rollout scored on the pool: per optimizer step, the
    batch of every accumulation step and of each of `estimate.assumptions.processes`."""
    return (trainer["max_steps"] * trainer.get("per_device_train_batch_size", 8)
            * trainer.get("gradient_accumulation_steps", 1) * ctx.assumptions["processes"])


def phase_steps(task, examples: list[Example], count: int, label: str, ctx: Context,
                whole_plans: bool = True) -> list[Step]:
    """The steps of `count` rollouts over `examples` in turn: every step of a sampled plan
    (the decomposer phase), or one step of one (the allocator phase)."""
    steps: list[Step] = []
    for r in range(count):
        plan, _ = plan_steps(task, examples[r % len(examples)], f"{label} rollout {r}", ctx.assumptions)
        steps += plan if whole_plans else plan[r % len(plan):][:1] if plan else []
    return steps


def rollout_calls(tally: Tally, stage: str, ctx: Context, task, steps: list[Step], sampling: SamplingParams,
                  seed: int) -> None:
    """Each step on the member `estimate.assumptions.allocation` gives it, under a seed of its own."""
    for member in ctx.ladder:
        mine = [(j, s) for j, (s, m) in enumerate(zip(steps, by_shares(len(steps), ctx.shares()))) if m == member]
        for j, step in mine:
            tally.add(stage, member, prompts(task, [step]), replace(sampling, seed=seed + j), assumed=True)


def allocator_calls(tally: Tally, stage: str, ctx: Context, task, steps: list[Step], rl: dict, author: str) -> None:
    """The frozen allocator names a member per step of the decomposer phase (the router's tokens)."""
    if ctx.pool.get("router_member"):
        sampling = sampling_from(rl.get("allocator_sampling"), max_new_tokens=4)
        tally.add(stage, ctx.pool["router_member"], [task.allocator_prompt(s.question, s.history, s.subtask)
                                                     for s in steps], sampling, assumed=True,
                  identity=f"{author}/allocator")


STAGES: dict[str, Callable[[Tally, Context], None]] = {
    "evaluation_baselines": evaluation_baselines,
    "evaluation": evaluation,
    "data_generation": data_generation,
    "rl_refinement": rl_refinement,
}


# ----- the node


def estimate_calls(pool: dict, evaluation: dict, data_generation: dict, rl_refinement: dict | None,
                   estimate: dict) -> pd.DataFrame:
    """Per stage and member: calls, calls the cache answers, prompt tokens, completion tokens at
    most, dollars at most; then each member's total and the run's. Sends no call."""
    estimate = EstimateParams.model_validate(estimate).model_dump()  # the defaults of what is left out
    world = dict(zip(("train", "validation", "test"), generate_world(data_generation)))
    ctx = Context(pool, evaluation, data_generation, estimate["assumptions"], world, rl_refinement)
    prices = PriceTable.from_config(pool["prices"], name=pool["price_table"])
    tally = Tally(prices, counting_backends(pool), existing_cache(pool.get("cache_path")))
    for stage in estimate["pipelines"]:
        STAGES[stage](tally, ctx)
    table = tally.table()
    logger.info("estimate of %s (no call sent), assumptions %s:\n%s", list(estimate["pipelines"]),
                estimate["assumptions"], describe(table))
    warn_over_caps(table, pool)
    return table


def describe(table: pd.DataFrame) -> str:
    return table.to_string(index=False, float_format=lambda x: f"{x:.4g}")


def warn_over_caps(table: pd.DataFrame, pool: dict) -> None:
    """The estimate beyond a cap: the run would stop there (the router is not capped: it runs here)."""
    members = table[(table["stage"] == TOTAL) & (table["member"] != TOTAL)].set_index("member")["usd"]
    capped = members.drop(pool.get("router_member") or "", errors="ignore")
    if pool.get("budget_usd") is not None and capped.sum() > pool["budget_usd"]:
        logger.warning("the estimate's $%.4g for the pool members is above pool.budget_usd = $%g: the run would "
                       "stop before its end (the bound counts every answer at max_new_tokens)",
                       capped.sum(), pool["budget_usd"])
    for member, cap in (pool.get("member_budget_usd") or {}).items():
        if capped.get(member, 0.0) > cap:
            logger.warning("the estimate's $%.4g for %s is above pool.member_budget_usd.%s = $%g",
                           capped[member], member, member, cap)
