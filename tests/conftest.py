"""Shared fixtures: a tiny real model folder, and offline environment defaults."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("R2_PROJECT_ROOT", None)  # paths.ROOT_ENV: relative paths follow each test's own setup


@pytest.fixture(scope="session")
def tiny_member(tmp_path_factory):
    """A real (briefly trained) micro pool member saved as a Hugging Face folder."""
    from r2_pipeline.training.ladder import train_tier
    from r2_pipeline.training.tiny import save_model

    model, tokenizer, _ = train_tier(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=1, buckets=[1], steps=30,
        n_examples=500, batch_size=64, learning_rate=3e-3,
    )
    return str(save_model(model, tokenizer, tmp_path_factory.mktemp("member") / "t1"))
