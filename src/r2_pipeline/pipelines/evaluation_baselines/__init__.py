"""`evaluation_baselines`: the methods that need no trained router, before (or without) training."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
