"""`rl_refinement`: GRPO rounds alternating between the decomposer and the allocator."""

from .pipeline import ROUNDS, create_pipeline, final_models, round_names, trained_routers

__all__ = ["ROUNDS", "create_pipeline", "final_models", "round_names", "trained_routers"]
