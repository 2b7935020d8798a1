"""Wiring of `rl_refinement`: rounds unrolled as namespaces round_1..N, each starting from the last."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import log_phase_curves, refine_allocator, refine_decomposer

# Mirrors rl_refinement.rounds in conf/base/parameters_rl_refinement.yml (a test checks they agree):
# the registry must know the DAG before parameters are loaded.
ROUNDS = 2
# data_generation's chosen plans and labels: the questions and subtasks on real benchmarks (micro
# reads world_train)
SHARED = ["world_train", "pool_manifest", "params:pool", "params:rl_refinement", "scored_decompositions",
          "allocation_labels"]


def round_names(rounds: int = ROUNDS) -> list[str]:
    return [f"round_{k}" for k in range(1, rounds + 1)]


def _logger(round_name: str, phase: str):
    return update_wrapper(partial(log_phase_curves, round_name=round_name, phase=phase), log_phase_curves)


def _in_round(refine, round_name: str):
    """The phase's node for one round: the round's number picks the questions it samples."""
    return update_wrapper(partial(refine, round_index=int(round_name.rsplit("_", 1)[1])), refine)


def round_pipeline(round_name: str, decomposer_in: str, allocator_in: str) -> Pipeline:
    """One round: decomposer phase with the previous allocator, then allocator phase with the new decomposer."""
    ns = round_name
    return Pipeline(
        [
            Node(_in_round(refine_decomposer, ns), [decomposer_in, allocator_in, *SHARED],
                 [f"{ns}.decomposer", f"{ns}.decomposer_curves"], name="refine_decomposer_node", namespace=ns),
            Node(_in_round(refine_allocator, ns), [f"{ns}.decomposer", allocator_in, *SHARED],
                 [f"{ns}.allocator", f"{ns}.allocator_curves"], name="refine_allocator_node", namespace=ns),
            Node(_logger(ns, "decomposer"), f"{ns}.decomposer_curves", f"{ns}.decomposer_run",
                 name="log_decomposer_curves_node", namespace=ns),
            Node(_logger(ns, "allocator"), f"{ns}.allocator_curves", f"{ns}.allocator_run",
                 name="log_allocator_curves_node", namespace=ns),
        ],
    )


def final_models(rounds: int = ROUNDS) -> tuple[str, str]:
    last = round_names(rounds)[-1]
    return f"{last}.decomposer", f"{last}.allocator"


def create_pipeline(rounds: int = ROUNDS, **kwargs) -> Pipeline:
    decomposer, allocator = "decomposer_sft_model", "allocator_sft_model"
    out = Pipeline([])
    for name in round_names(rounds):
        out += round_pipeline(name, decomposer, allocator)
        decomposer, allocator = f"{name}.decomposer", f"{name}.allocator"
    return out
