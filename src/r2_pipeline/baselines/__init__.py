"""Baselines that route without R2's decomposer and allocator."""
