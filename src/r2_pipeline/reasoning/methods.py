"""Evaluation methods by name: each turns test questions into plans and an allocation rule."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..pool.pool import ModelPool
from ..tasks.base import Example
from .execute import Recheck, StepTrace, execute, final_value, fixed_member, own_call
from .router import ALLOCATOR_RULES, RouterUsage, allocator_rule, decompose


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


MEMBER_KINDS = ("single", "tier")  # the methods that take a `:<member>` suffix


def expand_methods(names: Sequence[str], members: Sequence[str]) -> list[str]:
    """`single` means `single:<m>` for every member (likewise `tier`). A method listed twice, as
    itself or through `single`/`tier`, is an error naming it: it would be run and counted twice."""
    out = []
    for name in names:
        if name in MEMBER_KINDS:
            out += [f"{name}:{m}" for m in members]
        else:
            out.append(name)
    spelled = [_canonical(m) for m in out]
    repeated = sorted({m for m, c in zip(out, spelled) if spelled.count(c) > 1})
    if repeated:
        raise ValueError(f"methods {repeated} are listed twice in {list(names)} (`single` and `tier` already mean "
                         "every member, and `@0.9`, `@0.90` and `@cheapest_likely=0.9` are one reading): each method "
                         "runs once")
    return out


def _canonical(method: str) -> tuple:
    """One spelling per reading, so `r2_sft@0.9` and `r2_sft@cheapest_likely=0.90` are seen as the same
    method; a bare router name stays itself (it reads `evaluation.router`), as does a malformed name
    (check_method reports it)."""
    try:
        kind = method_kind(method)
        if kind == "query_router" and "@" in method:
            return ("query_router", query_router_threshold(method))
        if kind in TRAINED_ROUTER_KINDS and ("@" in method or "+" in method):
            decoding = router_decoding(method, "", None) if "@" in method.partition("+")[0] else None
            return (router_name(method), decoding, recheck_spec(method))
    except ValueError:
        pass
    return (method,)


# in `evaluation.comparisons.pairs`: the dearest member alone, whatever the pool calls it
LARGEST = "largest"


def resolve_comparisons(
    pairs: Sequence[Sequence[str]], methods: Sequence[str], members: Sequence[str], largest_member: str
) -> list[tuple[str, str]]:
    """[method, baseline] pairs with `largest` spelled out as `single:<largest_member>`; a pair that
    names a method no benchmark runs, or one method twice, is an error naming it."""
    run = set(expand_methods(methods, members))
    resolved = []
    for pair in pairs:
        names = tuple(f"single:{largest_member}" if name == LARGEST else name for name in pair)
        missing = [name for name in names if name not in run]
        if missing:
            raise ValueError(f"evaluation.comparisons pair {list(pair)}: {missing} not among the methods evaluation "
                             f"runs {sorted(run)}")
        if names[0] == names[1]:
            raise ValueError(f"evaluation.comparisons pair {list(pair)} compares {names[0]!r} with itself")
        resolved.append(names)
    return resolved


def _result(method, traces, start, usage=None) -> MethodResult:
    usage = usage or RouterUsage.empty(len(traces))
    return MethodResult(method, traces, time.time() - start, usage.prompt_tokens,
                        usage.completion_tokens, usage.cost_usd, usage.invalid_allocations, usage.allocations)


def _member(method: str, pool: ModelPool) -> str:
    member = method.split(":", 1)[1]
    if member not in pool.members:
        raise ValueError(f"method {method!r} names no pool member; members: {pool.members}")
    return member


def run_single(method, pool, task, examples, sampling, context) -> MethodResult:
    """`single:<member>`: the member does every step of the teacher's decomposition."""
    member, start = _member(method, pool), time.time()
    plans = [task.reference_subtasks(e) for e in examples]
    return _result(method, execute(pool, task, _questions(examples), plans, fixed_member(member), sampling), start)


def run_tier(method, pool, task, examples, sampling, context) -> MethodResult:
    """`tier:<member>`: R2's trained decomposer, every subtask sent to one member."""
    member, start = _member(method, pool), time.time()
    router, usage = context.router(context.final_router), RouterUsage.empty(len(examples))
    plans, _ = decompose(router, task, _questions(examples), context.router_sampling, usage)
    return _result(method, execute(pool, task, _questions(examples), plans, fixed_member(member), sampling), start, usage)


def run_random(method, pool, task, examples, sampling, context) -> MethodResult:
    """`random`: R2's decomposer, each subtask to a member drawn uniformly (seeded)."""
    start, rng = time.time(), random.Random(context.seed)
    router, usage = context.router(context.final_router), RouterUsage.empty(len(examples))
    plans, _ = decompose(router, task, _questions(examples), context.router_sampling, usage)

    def allocate(idx, step, filled, histories):
        return [rng.choice(pool.members) for _ in idx]

    return _result(method, execute(pool, task, _questions(examples), plans, allocate, sampling), start, usage)


def run_oracle(method, pool, task, examples, sampling, context) -> MethodResult:
    """`oracle`: R2's decomposer, each subtask to the cheapest member that answers it exactly.

    The upper bound of allocation: it is charged only for the member it picks, not for the search.
    """
    start = time.time()
    router, usage = context.router(context.final_router), RouterUsage.empty(len(examples))
    plans, _ = decompose(router, task, _questions(examples), context.router_sampling, usage)
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

    return _result(method, execute(pool, task, _questions(examples), plans, allocate, sampling), start, usage)


def run_query_router(method, pool, task, examples, sampling, context) -> MethodResult:
    """`query_router`: one member per question (kNN over question text, RouteLLM style), which then
    does every step of the teacher's decomposition. `query_router@<t>` uses threshold t instead of
    the configured one: several thresholds trace the query router's accuracy-cost frontier."""
    start = time.time()
    choices = context.query_router.choose(_questions(examples), query_router_threshold(method))
    plans = [task.reference_subtasks(e) for e in examples]

    def allocate(idx, step, filled, histories):
        return [choices[i] for i in idx]

    return _result(method, execute(pool, task, _questions(examples), plans, allocate, sampling), start)


def run_r2(method, pool, task, examples, sampling, context) -> MethodResult:
    """`r2_sft`, `r2_round_<k>`, `r2`: the trained decomposer and allocator, end to end; with
    `@<decoding>` (`r2_sft@0.95`, `r2_sft@escalate=0.99`), the same router read another way; with
    `+recheck=<tau>`, a step whose answer is less sure than tau is asked again one rung up (`Recheck`),
    and with `+recheck_agree=<tau>` unless the rung below gave the same answer."""
    start = time.time()
    rule, min_success = router_decoding(method, context.rule, context.min_success)
    spec = recheck_spec(method)
    router, usage = context.router(router_name(method)), RouterUsage.empty(len(examples))
    questions = _questions(examples)
    plans, _ = decompose(router, task, questions, context.router_sampling, usage)
    allocate = allocator_rule(router, task, questions, pool.members, context.fallback,
                              context.allocator_sampling, usage, min_success, context.ladder, rule)
    recheck = None if spec is None else Recheck(tuple(context.ladder), tau=spec[0], alpha=context.recheck_alpha,
                                                agree=spec[1])
    return _result(method, execute(pool, task, questions, plans, allocate, sampling, recheck), start, usage)


def _questions(examples: list[Example]) -> list[str]:
    return [e.question for e in examples]


RUNNERS = {
    "single": run_single,
    "tier": run_tier,
    "random": run_random,
    "oracle": run_oracle,
    "query_router": run_query_router,
    "r2_sft": run_r2,
    "r2_round": run_r2,
    "r2": run_r2,
}


# kinds that run a trained router (its decomposer, and for r2 its allocator), whose tokens are
# priced as `pool.router_member`
ROUTED_KINDS = {"tier", "random", "oracle", "r2_sft", "r2_round", "r2"}
# kinds that are a trained router end to end: `<router>[@<decoding>]`
TRAINED_ROUTER_KINDS = frozenset({"r2_sft", "r2_round", "r2"})
# kinds that need the micro world's machinery, and why
MICRO_ONLY_KINDS = {
    "oracle": "needs each subtask's exact answer, which only the micro world has",
    "query_router": "is fitted on the members' outcomes on the micro world's training questions",
}


RECHECK = "+recheck="  # `<router>[@<decoding>]+recheck=<tau>`: execution-time escalation (execute.Recheck)
RECHECK_AGREE = "+recheck_agree="  # the same, and an unsure answer the rung below agrees with stands


def router_name(method: str) -> str:
    """The trained router a method runs: `r2_sft@escalate=0.99+recheck=0.8` -> `r2_sft`."""
    return method.partition("+")[0].partition("@")[0]


def recheck_spec(method: str) -> tuple[float, bool] | None:
    """(tau, agree) of `...+recheck=<tau>` (agree False) or `...+recheck_agree=<tau>` (True); None
    without a + suffix."""
    if "+" not in method:
        return None
    head, _, spec = method.partition("+")
    suffix, equals, value = ("+" + spec).partition("=")
    if suffix + equals not in (RECHECK, RECHECK_AGREE):
        raise ValueError(f"method {method!r}: the + suffixes are {RECHECK}<tau> and {RECHECK_AGREE}<tau>, e.g. "
                         f"{head}{RECHECK}0.8")
    try:
        tau = float(value)
    except ValueError:
        raise ValueError(f"method {method!r}: write {head}{suffix}=<tau>, e.g. {head}{suffix}=0.8") from None
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"method {method!r}: tau is an answer-token probability in (0, 1]")
    return tau, suffix + equals == RECHECK_AGREE


def query_router_threshold(method: str) -> float | None:
    """The threshold in `query_router@<t>`; None for plain `query_router` (the configured one)."""
    if "@" not in method:
        return None
    try:
        threshold = float(method.split("@", 1)[1])
    except ValueError:
        raise ValueError(f"method {method!r}: write query_router@<threshold>, e.g. query_router@0.5") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"method {method!r}: the threshold is an estimated accuracy in [0, 1]")
    return threshold


def router_decoding(method: str, rule: str, min_success: float | None) -> tuple[str, float | None]:
    """How a trained router's method reads its allocator: `evaluation.router`'s `rule` and
    `min_success` for the bare name, or the method's own after `@`: `@<p>` the cheapest member with
    estimated success >= p, `@escalate=<p>` the named member if its estimate reaches p else the
    dearest, `@greedy` the named member. Several of them trace the router's accuracy-cost frontier
    from one trained model, as `query_router@<t>` does for the query router."""
    method = method.partition("+")[0]
    if "@" not in method:
        return rule, min_success
    spec = method.split("@", 1)[1]
    if spec == "greedy":
        return "cheapest_likely", None
    name, equals, value = spec.rpartition("=")
    name = name if equals else "cheapest_likely"
    try:
        threshold = float(value)
    except ValueError:
        threshold = None
    if name not in ALLOCATOR_RULES or threshold is None:
        raise ValueError(f"method {method!r}: write {method.split('@', 1)[0]}@<p>, @escalate=<p> or @greedy "
                         f"(rules: {list(ALLOCATOR_RULES)}), e.g. r2_sft@0.95")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"method {method!r}: the threshold is an estimated chance of success in (0, 1]")
    return name, threshold


def check_method(method: str) -> None:
    """A method name's suffix is well formed: a ValueError naming the method otherwise."""
    kind = method_kind(method)
    if "+" in method and kind not in TRAINED_ROUTER_KINDS:
        raise ValueError(f"method {method!r}: only the trained routers (r2_sft, r2_round_<k>, r2) take a "
                         f"{RECHECK}<tau> or {RECHECK_AGREE}<tau> suffix")
    if kind == "query_router":
        query_router_threshold(method)
    elif kind in TRAINED_ROUTER_KINDS:
        router_decoding(method, "cheapest_likely", None)
        recheck_spec(method)
    elif "@" in method:
        raise ValueError(f"method {method!r}: only query_router and the trained routers (r2_sft, r2_round_<k>, r2) "
                         "take an @ suffix")
    if ":" in method and kind not in MEMBER_KINDS:
        raise ValueError(f"method {method!r}: only {' and '.join(MEMBER_KINDS)} take a :<member> suffix")


def method_kind(method: str) -> str:
    if method.startswith("r2_round_"):
        return "r2_round"
    return method.split(":", 1)[0].split("@", 1)[0].split("+", 1)[0]


def run_method(method: str, pool: ModelPool, task: Any, examples: list[Example], sampling, context=None):
    kind = method_kind(method)
    if kind not in RUNNERS:
        raise ValueError(f"unknown method {method!r}; known kinds: {sorted(RUNNERS)}")
    if kind in MICRO_ONLY_KINDS and getattr(task, "name", None) != "micro":
        raise ValueError(f"method {method!r} runs on the micro benchmark only: it {MICRO_ONLY_KINDS[kind]}")
    return RUNNERS[kind](method, pool, task, examples, sampling, context)


def result_rows(benchmark: str, result: MethodResult, task: Any, examples: list[Example]) -> list[dict]:
    rows = []
    for i, (example, trace) in enumerate(zip(examples, result.traces)):
        prediction = final_value(trace)
        rows.append(
            {
                "benchmark": benchmark,
                "method": result.method,
                "id": example.id,
                "answer": str(example.answer),
                "prediction": None if prediction is None else str(prediction),
                "correct": task.grade(prediction, example),
                "n_steps": len(trace),
                "members": ",".join(str(t.member) for t in trace),
                "prompt_tokens": sum(t.prompt_tokens for t in trace) + result.router_prompt_tokens[i],
                "completion_tokens": sum(t.completion_tokens for t in trace)
                + result.router_completion_tokens[i],
                "pool_cost_usd": sum(t.cost_usd for t in trace),
                "router_prompt_tokens": result.router_prompt_tokens[i],
                "router_completion_tokens": result.router_completion_tokens[i],
                "router_cost_usd": result.router_cost_usd[i],
                "cost_usd": sum(t.cost_usd for t in trace) + result.router_cost_usd[i],
                # steps whose token counts a server did not report (estimated by the backend)
                "estimated_token_steps": sum(t.estimated_tokens for t in trace),
                # steps asked again of a dearer member after an unsure answer (`+recheck`)
                "rechecked_steps": sum(t.rechecks > 0 for t in trace),
                "method_seconds": result.seconds,
                "invalid_allocations": result.invalid_allocations,
            }
        )
    return rows


def step_rows(result: MethodResult, examples: list[Example]) -> list[dict]:
    """One row per pool call: a step asked again (`+recheck`) has a row per member asked, each with
    that call's own tokens and cost, and `final` marks the answer that counts; so the table reprices
    call by call, and its cost sums to the method's."""
    return [
        {"method": result.method, "id": e.id, **row}
        for e, trace in zip(examples, result.traces)
        for t in trace
        for row in _call_rows(t)
    ]


def _call_rows(trace: StepTrace) -> list[dict]:
    step = {k: _plain(v) for k, v in trace.to_dict().items() if k != "earlier"}
    if not trace.earlier:
        return [{**step, "final": True}]
    calls = [*trace.earlier, own_call(trace)]
    return [{**step, **{k: _plain(v) for k, v in call.items()}, "rechecks": n, "final": n == len(calls) - 1}
            for n, call in enumerate(calls)]


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (int, float)) else str(value)
