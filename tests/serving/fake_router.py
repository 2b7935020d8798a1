"""A stand-in for the router's MLflow model, saved as a model from code: deterministic rows of the
router's predict columns, so the server's answers can be checked against `predict` itself."""

from __future__ import annotations

import json
import os

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

FAIL = "fail loudly"  # a question whose predict raises, its message holding the server's key


def row(question: str, seed: int) -> dict:
    words = question.split()
    trace = [
        {"subtask": w, "member": f"t{(len(w) + seed) % 3 + 1}", "answer": w[::-1]} for w in words
    ]
    return {
        "answer": question[::-1],
        "trace": json.dumps(trace),
        "prompt_tokens": 3 * len(words),
        "completion_tokens": len(words),
        "cost_usd": 1e-6 * len(question),
        "router_prompt_tokens": len(question),
        "router_completion_tokens": 2,
        "router_cost_usd": 1e-7 * len(question) + 1e-9 * seed,
    }


class FakeRouter(PythonModel):
    def predict(self, context, model_input, params=None):
        seed = (params or {}).get("seed", 0)
        if FAIL in list(model_input["question"]):
            raise RuntimeError(f"a member refused the key {os.environ.get('R2_SERVE_API_KEY')}")
        return pd.DataFrame([row(q, seed) for q in model_input["question"]])


mlflow.models.set_model(FakeRouter())
