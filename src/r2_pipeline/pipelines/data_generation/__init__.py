"""`data_generation`: the micro world's splits (and, later, router training data)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
