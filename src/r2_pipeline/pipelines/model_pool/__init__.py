"""`model_pool`: the micro pool's tiers, trained from scratch, and their capability ladder."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
