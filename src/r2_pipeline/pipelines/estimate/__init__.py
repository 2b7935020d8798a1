"""`estimate`: what the configured runs would cost, per member and in total, before any call."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
