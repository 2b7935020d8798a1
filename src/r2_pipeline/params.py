"""Every parameter block's schema by name, and what one block says about another: a bad value
fails before any node runs, naming the key. Each schema lives next to what it validates."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any

from pydantic import BaseModel, ValidationError

from .pipelines.data_generation.params import DataGenerationParams
from .pipelines.estimate.params import EstimateParams
from .pipelines.evaluation.params import EvaluationParams
from .pipelines.model_pool.params import ModelPoolParams
from .pipelines.pretrained_backbone.params import PretrainedBackboneParams
from .pipelines.rl_refinement.params import RLParams
from .pipelines.rl_refinement.rounds import rounds_set
from .pool.params import PoolParams
from .training.params import SFTParams

logger = logging.getLogger(__name__)

BLOCKS: dict[str, type[BaseModel]] = {
    "pretrained_backbone": PretrainedBackboneParams,
    "rl_refinement": RLParams,
    "decomposer_sft": SFTParams,
    "allocator_sft": SFTParams,
    "pool": PoolParams,
    "model_pool": ModelPoolParams,
    "data_generation": DataGenerationParams,
    "evaluation": EvaluationParams,
    "estimate": EstimateParams,
}


class ParameterError(ValueError):
    """A parameter block failed validation; the message names the key and the bad value."""


def validate_params(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Every block of `params`, validated; the trained routers that evaluation's methods may name
    follow the `rl_refinement.rounds` of the same dict (rl_refinement validates before evaluation)."""
    unknown = _unknown_blocks(params)
    if unknown:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(unknown))
    validated = {}
    with ExitStack() as stack:
        for block, model in BLOCKS.items():
            if block not in params:
                continue
            try:
                validated[block] = model.model_validate(params[block])
            except ValidationError as err:
                raise ParameterError(_describe(block, err)) from None
            if block == "rl_refinement":
                stack.enter_context(rounds_set(validated[block].rounds))
        problems = _cross_check(validated)
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems))
    return validated


def _router_room_problems(evaluation, blocks: dict[str, BaseModel]) -> list[str]:
    """A tiny router has the positions its backbone sets: as many new tokens as that leaves the
    prompt no room (and fails only at evaluation, after training)."""
    from .pipelines.evaluation.params import ROUTER_NEW_TOKENS

    problems = []
    for key, sft in (("sampling", "decomposer_sft"), ("allocator_sampling", "allocator_sft")):
        backbone = getattr(blocks.get(sft), "backbone", None)
        if backbone is None or backbone.kind != "tiny":
            continue
        block = getattr(evaluation.router, key)
        new = (block.max_new_tokens if block is not None else None) or ROUTER_NEW_TOKENS[key]
        if new >= backbone.max_position_embeddings:
            problems.append(f"parameter evaluation.router.{key}.max_new_tokens = {new}: {sft}.backbone."
                            f"max_position_embeddings is {backbone.max_position_embeddings}, which leaves the "
                            "router's prompt no room; lower it, or give the backbone more positions")
    return problems


def _member_answer_problems(evaluation, model_pool) -> list[str]:
    """The micro pool's members write a whole answer in `micro.ANSWER_TOKENS` tokens (a compound's
    working, its result, the end token): fewer new tokens cut every compound's result off, and the
    plans that merge steps would fail for a reason no router can see."""
    from .tasks import micro

    bench = evaluation.benchmarks.get("micro")
    if bench is None or model_pool is None or not model_pool.tiers:
        return []
    own = bench.sampling.max_new_tokens if bench.sampling is not None else None
    new = own or evaluation.sampling.max_new_tokens
    working = [name for name in model_pool.tiers if model_pool.working(name)]
    need = micro.ANSWER_TOKENS if working else micro.WIDTH + 1
    if new is None or new >= need:
        return []
    key = "evaluation.benchmarks.micro.sampling" if own else "evaluation.sampling"
    what = f"a compound's working, its result and the end token; tiers showing working: {working}" if working \
        else f"its result and the end token; model_pool.compound_working = {model_pool.compound_working}"
    return [f"parameter {key}.max_new_tokens = {new}: a micro member writes up to {need} tokens for one "
            f"subtask ({what}); fewer cut answers off"]


def _unknown_blocks(params: dict[str, Any]) -> list[str]:
    """A top-level key no schema reads: a misspelt block (`--params evalution.cost_lambda=1`) would
    otherwise add a block of its own and leave the real one unchanged, silently. A new pipeline's
    block is registered in BLOCKS with its schema."""
    import difflib

    problems = []
    for key in sorted(set(params) - set(BLOCKS), key=str):
        near = difflib.get_close_matches(str(key), list(BLOCKS), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        problems.append(f"parameter {key}: no pipeline reads a block of this name; {hint}"
                        f"known blocks: {sorted(BLOCKS)} (a new block is registered in r2_pipeline.params.BLOCKS)")
    return problems


def _evaluation_problems(evaluation: EvaluationParams, pool: PoolParams, data) -> list[str]:
    """What the evaluation block says about the pool and the teacher."""
    members = list(pool.members)
    problems = _teacher_overlap_problems(data, evaluation) if data is not None and data.teacher.kind == "endpoint" else []
    repeated = _repeated_method_problems(evaluation, members)
    if repeated:  # the checks below read the methods each benchmark runs, once each
        return problems + repeated
    try:
        planned = evaluation.planned(members)
    except ValueError as error:
        return [*problems, f"parameter evaluation: {error}"]
    return problems + _comparison_problems(evaluation, pool, planned) + [
        f"parameter evaluation.methods: {m.label!r} names no pool member; members: {members}"
        for m in planned if set(m.named_members()) - set(members)]


def _teacher_overlap_problems(data, evaluation) -> list[str]:
    """A benchmark the endpoint teacher and evaluation both read must not give both the same rows:
    router training data would then hold the test questions. Rows are the same when both read one
    offline copy or file (those ignore `split`), or one hub dataset at one split after the task's
    `split_map` (CSQA and MuSiQue read `validation` for `test`)."""
    import os

    from .paths import from_root
    from .tasks.base import get_task
    from .tasks.loading import OFFLINE, looks_like_file

    problems = []
    for name, teacher_spec in (data.teacher.benchmarks or {}).items():
        if name not in evaluation.benchmarks:
            continue
        task = get_task(name)
        default = f"{task.hub}:{task.hub_config}" if getattr(task, "hub_config", None) else getattr(task, "hub", None)
        split_map = getattr(task, "split_map", {})
        sides = [(spec.source or default, split_map.get(spec.split, spec.split))
                 for spec in (teacher_spec, evaluation.benchmarks[name])]
        (source, split), (other_source, other_split) = sides
        if source != other_source:
            continue
        unsplit = source == OFFLINE or looks_like_file(source) or os.path.exists(from_root(source))
        if unsplit or split == other_split:
            read = f"{source!r}" + ("" if unsplit else f" split {split!r}")
            problems.append(f"parameter data_generation.teacher.benchmarks.{name} reads the rows evaluation reads "
                            f"({read}): the router would train on test questions; give the teacher a training "
                            "split or another source")
    return problems


def _repeated_method_problems(evaluation: EvaluationParams, members: list[str]) -> list[str]:
    """A method listed twice for one benchmark (by name, through `single`/`tier`, or as one reading
    under two names) would run and be counted twice: twice the questions in its accuracy, twice its
    cost."""
    from .methods import benchmark_methods
    from .pipelines.rl_refinement import trained_routers

    problems, settings = [], evaluation.settings()
    for name in evaluation.benchmarks:
        try:
            benchmark_methods(settings, name, members, list(trained_routers()))
        except ValueError as error:
            problems.append(f"parameter evaluation ({name}): {error}")
    return problems


def _cross_check(blocks: dict[str, BaseModel]) -> list[str]:
    """What one block says about another: members named anywhere exist, tiers train every member."""
    pool = blocks.get("pool")
    if pool is None:
        return []
    members = list(pool.members)
    named: dict[str, str | None] = {}
    if (data := blocks.get("data_generation")) is not None:
        named["data_generation.teacher.member"] = data.teacher.member
        named["data_generation.decomposition.evaluation_member"] = data.decomposition.evaluation_member
        named["data_generation.allocation.baseline"] = data.allocation.baseline
        if data.allocation.reviewer is not None:
            named["data_generation.allocation.reviewer.member"] = data.allocation.reviewer.member
    if (rl := blocks.get("rl_refinement")) is not None:
        named["rl_refinement.fallback"] = rl.fallback
        if rl.reviewer is not None:
            named["rl_refinement.reviewer.member"] = rl.reviewer.member
    if (evaluation := blocks.get("evaluation")) is not None:
        named["evaluation.router.fallback"] = evaluation.router.fallback
    problems = [f"parameter {key} = {name!r}: not a pool member; members: {members}"
                for key, name in named.items() if name is not None and name not in members]
    if evaluation is not None:
        problems += _evaluation_problems(evaluation, pool, data) + _router_room_problems(evaluation, blocks)
        problems += _member_answer_problems(evaluation, blocks.get("model_pool"))
    problems += _router_price_problems(pool, evaluation, rl) + _estimate_problems(blocks.get("estimate"), members)
    _warn_lambdas(evaluation, rl)
    if rl is not None and rl.reviewer is None and data is not None and data.teacher.kind == "endpoint":
        problems.append("parameter rl_refinement.reviewer is missing: with an endpoint teacher, the allocator "
                        "phase's subtasks have no exact answer, so a reviewer member judges them")
    if data is not None:
        beyond = [t for t in data.allocation.start_tiers if t >= len(members)]
        if beyond:
            problems.append(f"parameter data_generation.allocation.start_tiers = {data.allocation.start_tiers}: "
                            f"indices {beyond} are beyond the ladder of {len(members)} members (0 = cheapest)")
    if (model_pool := blocks.get("model_pool")) is not None:
        untrained = [name for name, m in pool.members.items()
                     if m.backend == "transformers" and "path" not in (m.model_extra or {})
                     and name not in model_pool.tiers]
        if untrained:
            problems.append(f"pool members {untrained} use the transformers backend without a `path`, and "
                            f"model_pool.tiers {list(model_pool.tiers)} does not train them")
    return problems


def _warn_lambdas(evaluation: EvaluationParams | None, rl) -> None:
    """A study may judge routers at another lambda than r2's, but by mistake it misreads r2."""
    if rl is not None and evaluation is not None and evaluation.cost_lambda != rl.cost_lambda:
        logger.warning("evaluation.cost_lambda = %g differs from rl_refinement.cost_lambda = %g: the objective "
                       "judges `r2` and the default expected_oracle at another lambda than the one r2 is trained "
                       "for (the sweep's routers are judged at their own lambdas in headroom.csv)",
                       evaluation.cost_lambda, rl.cost_lambda)


def _estimate_problems(estimate, members: list[str]) -> list[str]:
    """The estimate's assumed allocation shares name pool members."""
    shares = estimate.assumptions.allocation if estimate is not None else None
    return [f"parameter estimate.assumptions.allocation names {name!r}, not a pool member; members: {members}"
            for name in (shares if isinstance(shares, dict) else []) if name not in members]


def _router_price_problems(pool: PoolParams, evaluation: EvaluationParams | None, rl) -> list[str]:
    """The router's own tokens are priced as `pool.router_member`: whatever runs a router needs one."""
    if pool.router_member is not None:
        return []
    try:
        planned = [] if evaluation is None else evaluation.planned(list(pool.members))
    except ValueError:  # a method listed twice: _repeated_method_problems names it
        planned = []
    routed = sorted(m.label for m in planned if m.uses_router)
    users = ([f"evaluation methods {routed}"] if routed else []) + (["rl_refinement"] if rl is not None else [])
    if not users:
        return []
    return [f"parameter pool.router_member is not set: {' and '.join(users)} run the trained router, whose "
            "tokens are priced as that entry of pool.prices (e.g. `router_member: router` with a `router` price)"]


def _comparison_problems(evaluation: EvaluationParams, pool: PoolParams, planned) -> list[str]:
    from .methods import resolve_comparisons
    from .pool.factory import ladder_order

    try:
        resolve_comparisons(evaluation.comparisons.pairs, planned, ladder_order(pool.model_dump())[-1])
    except ValueError as err:
        return [str(err)]
    return []


def _describe(block: str, err: ValidationError) -> str:
    from .methods.spec import describe_error

    lines = [f"parameter {describe_error(e, (block,))}" for e in err.errors()]
    return "invalid parameters:\n  " + "\n  ".join(lines)
