"""`alternating_training`: the whole chain, composed from the other pipelines (no nodes of its own)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
