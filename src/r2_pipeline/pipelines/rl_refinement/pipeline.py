"""Wiring of `rl_refinement`: rounds unrolled as namespaces round_1..N, each starting from the last,
for the main router at `cost_lambda`, and again in namespaces sweep_<i> at each `lambda_sweep` value."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from .nodes import log_phase_curves, refine_allocator, refine_decomposer

# The number of GRPO rounds. It lives here, not in parameters, because the registry must know the
# DAG before parameters load; evaluation's trained routers follow from it (trained_routers).
ROUNDS = 2
# The number of lambda sweep slots, for the same reason: slot i trains all ROUNDS rounds from the
# SFT models at rl_refinement.lambda_sweep[i - 1] in namespace sweep_<i> (router r2_sweep_<i>).
SWEEP_POINTS = 2
SFT_MODELS = ("decomposer_sft_model", "allocator_sft_model")
# what every round's nodes read after the two models they start from; data_generation's chosen
# plans and labels are the questions and subtasks on real benchmarks (micro reads world_train)
SHARED = ["world_train", "pool_manifest", "params:pool", "params:rl_refinement", "scored_decompositions",
          "allocation_labels"]


def round_names(rounds: int = ROUNDS) -> list[str]:
    return [f"round_{k}" for k in range(1, rounds + 1)]


def sweep_name(index: int) -> str:
    """The namespace of lambda slot `index` (1..SWEEP_POINTS)."""
    return f"sweep_{index}"


def sweep_names(points: int = SWEEP_POINTS) -> list[str]:
    return [sweep_name(i) for i in range(1, points + 1)]


def final_models(rounds: int = ROUNDS, sweep: str | None = None) -> tuple[str, str]:
    """The last round's (decomposer, allocator) datasets, of the main rounds or of sweep slot `sweep`."""
    last = round_names(rounds)[-1] if sweep is None else f"{sweep}.{round_names(rounds)[-1]}"
    return f"{last}.decomposer", f"{last}.allocator"


def trained_routers(rounds: int = ROUNDS, points: int = SWEEP_POINTS) -> dict[str, tuple[str, str]]:
    """Every trained router by the name evaluation's methods use, with its (decomposer, allocator)
    datasets: `r2_sft` after SFT, `r2_decomposer_phase` (round 1's decomposer with the SFT
    allocator: what the decomposer phase alone did), `r2_round_<k>` after round k, `r2_sweep_<i>`
    after the last round of sweep slot i, and last `r2`, the last main round's (the final router,
    whose decomposer tier/random/oracle use)."""
    first = round_names(rounds)[0]
    rounds_ = {f"r2_{name}": (f"{name}.decomposer", f"{name}.allocator") for name in round_names(rounds)}
    sweeps = {f"r2_{name}": final_models(rounds, name) for name in sweep_names(points)}
    return {"r2_sft": SFT_MODELS, "r2_decomposer_phase": (f"{first}.decomposer", SFT_MODELS[1]), **rounds_,
            **sweeps, "r2": final_models(rounds)}


@contextmanager
def reading_round_models() -> Iterator[None]:
    """Kedro warns once a node reads a dotted dataset name outside that name's namespace ("One or
    more dataset names contain '.' characters"), also when Pipeline(inputs=...) maps it in. The next
    round and evaluation read a round's models by their catalog names (`round_<k>.decomposer`,
    `sweep_<i>.round_<k>.decomposer`, given their folders by the catalog's factories), so the
    warning is silenced while exactly those nodes are built."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'", category=UserWarning)
        yield


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


def rounds_pipeline(rounds: int = ROUNDS, lambda_index: int = 0) -> Pipeline:
    """Every round of one lambda slot, round 1 from the SFT models, round k from round k - 1."""
    decomposer, allocator = SFT_MODELS
    out = Pipeline([])
    for name in round_names(rounds):
        out += round_pipeline(name, decomposer, allocator, lambda_index)
        decomposer, allocator = f"{name}.decomposer", f"{name}.allocator"
    return out


def sweep_pipeline(index: int, rounds: int = ROUNDS) -> Pipeline:
    """Sweep slot `index`: its rounds in namespace sweep_<index> (`sweep_<i>.round_<k>.decomposer`)."""
    with reading_round_models():
        return Pipeline(rounds_pipeline(rounds, lambda_index=index), namespace=sweep_name(index),
                        **_outside([*SFT_MODELS, *SHARED]))


def create_pipeline(rounds: int = ROUNDS, points: int = SWEEP_POINTS, **kwargs) -> Pipeline:
    out = rounds_pipeline(rounds)
    for index in range(1, points + 1):
        out += sweep_pipeline(index, rounds)
    return out
