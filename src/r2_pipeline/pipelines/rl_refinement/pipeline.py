"""Wiring of `rl_refinement`: rounds unrolled as namespaces round_1..N, each starting from the last,
for the main router at `cost_lambda`, and again in namespaces sweep_<i> at each `lambda_sweep` value."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import log_phase_curves, refine_allocator, refine_decomposer
from .rounds import (
    SFT_MODELS,
    SWEEP_POINTS,
    reading_round_models,
    round_names,
    sweep_name,
)

# what every round's nodes read after the two models they start from; data_generation's chosen
# plans and labels are the questions and subtasks on real benchmarks (micro reads world_train)
SHARED = ["world_train", "pool_manifest", "params:pool", "params:rl_refinement", "scored_decompositions",
          "allocation_labels"]


def _logger(round_name: str, phase: str, lambda_index: int):
    """The phase's curve logger: run `[sweep_<i>.]round_<k>.<phase>`, tagged round, phase, sweep."""
    sweep = sweep_name(lambda_index) if lambda_index else None
    run_name = ".".join(p for p in (sweep, round_name, phase) if p)
    tags = {"round": round_name, "phase": phase, "sweep": sweep or "none"}
    return update_wrapper(partial(log_phase_curves, run_name=run_name, tags=tags, lambda_index=lambda_index),
                          log_phase_curves)


def _in_round(refine, index: int, lambda_index: int):
    """The phase's node for one round of one lambda slot: the round's number picks the questions it
    samples, the slot its cost lambda (0: cost_lambda; i: lambda_sweep[i - 1])."""
    return update_wrapper(partial(refine, round_index=index, lambda_index=lambda_index), refine)


def _round(index: int, lambda_index: int = 0) -> Pipeline:
    """One round under local names: the round's own `decomposer` and `allocator`, the `previous_*`
    models it starts from. Decomposer phase with the previous allocator, then allocator phase with
    the new decomposer."""
    name = f"round_{index}"
    decompose, allocate = (_in_round(refine, index, lambda_index) for refine in (refine_decomposer, refine_allocator))
    return Pipeline(
        [
            Node(decompose, ["previous_decomposer", "previous_allocator", *SHARED], ["decomposer", "decomposer_curves"],
                 name="refine_decomposer_node"),
            Node(allocate, ["decomposer", "previous_allocator", *SHARED], ["allocator", "allocator_curves"],
                 name="refine_allocator_node"),
            Node(_logger(name, "decomposer", lambda_index), ["decomposer_curves", "params:rl_refinement"],
                 "decomposer_run", name="log_decomposer_curves_node"),
            Node(_logger(name, "allocator", lambda_index), ["allocator_curves", "params:rl_refinement"],
                 "allocator_run", name="log_allocator_curves_node"),
        ]
    )


def _outside(names: list[str] | tuple[str, ...]) -> dict:
    """Pipeline(inputs=, parameters=) for datasets a namespace reads under their own names."""
    return {"inputs": {d: d for d in names if not d.startswith("params:")},
            "parameters": {d for d in names if d.startswith("params:")}}


def round_pipeline(round_name: str, decomposer_in: str, allocator_in: str, lambda_index: int = 0) -> Pipeline:
    """One round in its namespace: its datasets are `<round_name>.<local name>` (catalog factories)."""
    index = int(round_name.rsplit("_", 1)[1])
    outside = _outside(SHARED)
    with reading_round_models():
        return Pipeline(
            _round(index, lambda_index),
            namespace=round_name,
            inputs={"previous_decomposer": decomposer_in, "previous_allocator": allocator_in, **outside["inputs"]},
            parameters=outside["parameters"],
        )


def rounds_pipeline(rounds: int | None = None, lambda_index: int = 0) -> Pipeline:
    """Every round of one lambda slot, round 1 from the SFT models, round k from round k - 1."""
    decomposer, allocator = SFT_MODELS
    out = Pipeline([])
    for name in round_names(rounds):
        out += round_pipeline(name, decomposer, allocator, lambda_index)
        decomposer, allocator = f"{name}.decomposer", f"{name}.allocator"
    return out


def sweep_pipeline(index: int, rounds: int | None = None) -> Pipeline:
    """Sweep slot `index`: its rounds in namespace sweep_<index> (`sweep_<i>.round_<k>.decomposer`)."""
    with reading_round_models():
        return Pipeline(rounds_pipeline(rounds, lambda_index=index), namespace=sweep_name(index),
                        **_outside([*SFT_MODELS, *SHARED]))


def create_pipeline(rounds: int | None = None, points: int = SWEEP_POINTS, **kwargs) -> Pipeline:
    out = rounds_pipeline(rounds)
    for index in range(1, points + 1):
        out += sweep_pipeline(index, rounds)
    return out
