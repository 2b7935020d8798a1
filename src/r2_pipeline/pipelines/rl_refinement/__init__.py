"""`rl_refinement`: GRPO rounds alternating between the decomposer and the allocator, for the main
router and each lambda of the sweep."""

from .pipeline import (
    ROUNDS,
    SWEEP_POINTS,
    create_pipeline,
    final_models,
    round_names,
    sweep_names,
    trained_routers,
)

__all__ = ["ROUNDS", "SWEEP_POINTS", "create_pipeline", "final_models", "round_names", "sweep_names",
           "trained_routers"]
