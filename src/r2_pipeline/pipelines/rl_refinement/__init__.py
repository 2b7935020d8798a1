"""`rl_refinement`: GRPO rounds alternating between the decomposer and the allocator, for the main
router and each lambda of the sweep."""

from .rounds import (
    ROUNDS,
    SWEEP_POINTS,
    final_models,
    round_names,
    sweep_names,
    trained_routers,
    unrolled_rounds,
    use_rounds,
)

__all__ = ["ROUNDS", "SWEEP_POINTS", "create_pipeline", "final_models", "round_names", "sweep_names",
           "trained_routers", "unrolled_rounds", "use_rounds"]


def __getattr__(name: str):
    """`create_pipeline`, imported on first use: the nodes import the libraries they train, evaluate
    or plot with, and every `kedro` start imports the pipelines' parameter schemas (r2_pipeline.params)."""
    if name == "create_pipeline":
        from .pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
