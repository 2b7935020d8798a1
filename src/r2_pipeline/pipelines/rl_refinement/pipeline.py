"""Wiring of `rl_refinement`: rounds unrolled as namespaces round_1..N, each starting from the last."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import log_phase_curves, refine_allocator, refine_decomposer

# The number of GRPO rounds. It lives here, not in parameters, because the registry must know the
# DAG before parameters load; evaluation's trained routers follow from it (trained_routers).
ROUNDS = 2
SFT_MODELS = ("decomposer_sft_model", "allocator_sft_model")
# what every round's nodes read after the two models they start from; data_generation's chosen
# plans and labels are the questions and subtasks on real benchmarks (micro reads world_train)
SHARED = ["world_train", "pool_manifest", "params:pool", "params:rl_refinement", "scored_decompositions",
          "allocation_labels"]


def round_names(rounds: int = ROUNDS) -> list[str]:
    return [f"round_{k}" for k in range(1, rounds + 1)]


def final_models(rounds: int = ROUNDS) -> tuple[str, str]:
    last = round_names(rounds)[-1]
    return f"{last}.decomposer", f"{last}.allocator"


def trained_routers(rounds: int = ROUNDS) -> dict[str, tuple[str, str]]:
    """Every trained router by the name evaluation's methods use, with its (decomposer, allocator)
    datasets: `r2_sft` after SFT, `r2_round_<k>` after round k, and `r2`, the last round's (the
    final router, whose decomposer tier/random/oracle use)."""
    rounds_ = {f"r2_{name}": (f"{name}.decomposer", f"{name}.allocator") for name in round_names(rounds)}
    return {"r2_sft": SFT_MODELS, **rounds_, "r2": final_models(rounds)}


@contextmanager
def reading_round_models() -> Iterator[None]:
    """Kedro warns once a node reads a dotted dataset name outside that name's namespace ("One or
    more dataset names contain '.' characters"), also when Pipeline(inputs=...) maps it in. The next
    round and evaluation read a round's models by their catalog names (`round_<k>.decomposer`, given
    their folders by the `{round}.decomposer` factories), so the warning is silenced while exactly
    those nodes are built."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'", category=UserWarning)
        yield


def _logger(round_name: str, phase: str):
    return update_wrapper(partial(log_phase_curves, round_name=round_name, phase=phase), log_phase_curves)


def _in_round(refine, index: int):
    """The phase's node for one round: the round's number picks the questions it samples."""
    return update_wrapper(partial(refine, round_index=index), refine)


def _round(index: int) -> Pipeline:
    """One round under local names: the round's own `decomposer` and `allocator`, the `previous_*`
    models it starts from. Decomposer phase with the previous allocator, then allocator phase with
    the new decomposer."""
    name = f"round_{index}"
    return Pipeline(
        [
            Node(_in_round(refine_decomposer, index), ["previous_decomposer", "previous_allocator", *SHARED],
                 ["decomposer", "decomposer_curves"], name="refine_decomposer_node"),
            Node(_in_round(refine_allocator, index), ["decomposer", "previous_allocator", *SHARED],
                 ["allocator", "allocator_curves"], name="refine_allocator_node"),
            Node(_logger(name, "decomposer"), "decomposer_curves", "decomposer_run", name="log_decomposer_curves_node"),
            Node(_logger(name, "allocator"), "allocator_curves", "allocator_run", name="log_allocator_curves_node"),
        ]
    )


def round_pipeline(round_name: str, decomposer_in: str, allocator_in: str) -> Pipeline:
    """One round in its namespace: its datasets are `<round_name>.<local name>` (catalog factories)."""
    index = int(round_name.rsplit("_", 1)[1])
    with reading_round_models():
        return Pipeline(
            _round(index),
            namespace=round_name,
            inputs={"previous_decomposer": decomposer_in, "previous_allocator": allocator_in,
                    **{d: d for d in SHARED if not d.startswith("params:")}},
            parameters={d for d in SHARED if d.startswith("params:")},
        )


def create_pipeline(rounds: int = ROUNDS, **kwargs) -> Pipeline:
    decomposer, allocator = SFT_MODELS
    out = Pipeline([])
    for name in round_names(rounds):
        out += round_pipeline(name, decomposer, allocator)
        decomposer, allocator = f"{name}.decomposer", f"{name}.allocator"
    return out
