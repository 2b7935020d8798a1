"""`evaluation`: accuracy against API cost for every method on the test split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
