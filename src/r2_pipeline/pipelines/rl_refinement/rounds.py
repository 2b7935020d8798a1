"""The shape of `rl_refinement`'s DAG: how many rounds and lambda sweep slots it unrolls, their
namespaces, and the trained routers they produce by the names evaluation's methods use. Plain
Python, without the nodes, so that parameter schemas and other pipelines read it cheaply."""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# The number of GRPO rounds where the profile sets no `rl_refinement.rounds`, and where no Kedro
# context has been created yet (`kedro registry describe`, a pipeline built in Python).
ROUNDS = 2
# The number of lambda sweep slots, a constant: slot i trains every round from the SFT models at
# rl_refinement.lambda_sweep[i - 1] in namespace sweep_<i> (router r2_sweep_<i>).
SWEEP_POINTS = 2
SFT_MODELS = ("decomposer_sft_model", "allocator_sft_model")

# The running project's `rl_refinement.rounds` under "rounds": Kedro builds pipelines after it
# creates the context, whose parameters (the `--env` profile and `--params` included)
# ValidateParamsHook reads and pins here (use_rounds), so the registry unrolls the profile's rounds.
_PINNED: dict[str, int] = {}


def unrolled_rounds() -> int:
    """How many rounds the DAG unrolls and evaluation's trained routers count: the pinned
    `rl_refinement.rounds`, else ROUNDS."""
    return _PINNED.get("rounds", ROUNDS)


@contextmanager
def rounds_set(rounds: int | None) -> Iterator[None]:
    """Unroll `rounds` rounds inside the block (None: leave the pinned number), as while a
    parameter dict is validated against its own `rl_refinement.rounds`."""
    before = dict(_PINNED)
    if rounds is not None:
        _PINNED["rounds"] = rounds
    try:
        yield
    finally:
        _PINNED.clear()
        _PINNED.update(before)


def use_rounds(rounds: int) -> None:
    """Pin the running project's number of rounds. Pipelines Kedro has already built with another
    number are dropped, so the next access rebuilds them (one process, sessions of two profiles)."""
    changed = rounds != unrolled_rounds()
    _PINNED["rounds"] = rounds
    from kedro.framework.project import PACKAGE_NAME, pipelines

    if changed and PACKAGE_NAME:  # a configured project: rebuild with the same pipelines requested
        requested = getattr(pipelines, "_requested_pipelines", None)
        pipelines.configure(f"{PACKAGE_NAME}.pipeline_registry")
        pipelines.set_requested(requested)


def round_names(rounds: int | None = None) -> list[str]:
    rounds = unrolled_rounds() if rounds is None else rounds
    return [f"round_{k}" for k in range(1, rounds + 1)]


def sweep_name(index: int) -> str:
    """The namespace of lambda slot `index` (1..SWEEP_POINTS)."""
    return f"sweep_{index}"


def sweep_names(points: int = SWEEP_POINTS) -> list[str]:
    return [sweep_name(i) for i in range(1, points + 1)]


def final_models(rounds: int | None = None, sweep: str | None = None) -> tuple[str, str]:
    """The last round's (decomposer, allocator) datasets, of the main rounds or of sweep slot `sweep`."""
    last = round_names(rounds)[-1] if sweep is None else f"{sweep}.{round_names(rounds)[-1]}"
    return f"{last}.decomposer", f"{last}.allocator"


def trained_routers(rounds: int | None = None, points: int = SWEEP_POINTS) -> dict[str, tuple[str, str]]:
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
