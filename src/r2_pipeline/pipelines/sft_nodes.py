"""Nodes shared by `decomposer_sft` and `allocator_sft`: same trainer, different data and settings."""

from __future__ import annotations

import pandas as pd

from ..reporting.mlflow_runs import log_curves
from ..training.sft import load_backbone, sft_train


def fit_sft(data: pd.DataFrame, settings: dict) -> tuple[tuple, pd.DataFrame]:
    """SFT of the configured backbone on prompt/completion rows; returns (model, tokenizer), curves."""
    examples = data[["prompt", "completion"]].to_dict("records")
    corpus = [r["prompt"] + r["completion"] for r in examples]
    model, tokenizer = load_backbone(settings["backbone"], corpus)
    if tokenizer.chat_template:  # train in the format the backend serves: the chat template
        examples = [as_chat(r) for r in examples]
    model, history = sft_train(model, tokenizer, examples, settings["trainer"], settings.get("lora"))
    return (model, tokenizer), pd.DataFrame(history)


def log_sft_curves(curves: pd.DataFrame, settings: dict) -> dict:
    """Curves to MLflow as a child run of the stage's run."""
    history = curves.to_dict("records")
    run_id = log_curves(settings["run_name"], history, {"stage": settings["run_name"]})
    return {"run_id": run_id, "final_loss": final_loss(curves)}


def final_loss(curves: pd.DataFrame) -> float | None:
    """The last logged step loss (the curves table has one row per logging step, with NaN where a
    row has no loss, such as the trainer's closing summary); None when no step loss was logged."""
    if "loss" not in curves:
        return None
    logged = curves["loss"].dropna()
    return float(logged.iloc[-1]) if len(logged) else None


def as_chat(row: dict) -> dict:
    return {
        "prompt": [{"role": "user", "content": row["prompt"]}],
        "completion": [{"role": "assistant", "content": row["completion"]}],
    }
