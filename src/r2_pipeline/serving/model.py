"""The trained router as an MLflow pyfunc model: questions in; per question the answer, the trace of
subtasks, members and answers, the pool's tokens and cost, and the router's own apart. It runs what
evaluation runs for the final router, on the pool evaluation builds (batched, cached, priced), so a
question under an evaluation seed gets the evaluation's answer and cost."""

import json
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from ..methods import Method, benchmark_methods, run_method
from ..paths import ROOT_ENV, rooted
from ..pool.factory import pool_from_params
from ..reasoning.execute import StepTrace, final_value
from ..tasks.base import Example, get_task

logger = logging.getLogger(__name__)

# the registry alias of the version whose objective is the best yet (registry.promote)
CHAMPION = "champion"
# the model's artifacts: the router's two folders and the configuration that reads them
ARTIFACTS = ("decomposer", "allocator", "config")
# the output columns and their MLflow types: answer and trace, then the pool members' tokens and
# cost, then the router's own
COLUMNS = {"answer": "string", "trace": "string", "prompt_tokens": "long", "completion_tokens": "long",
           "cost_usd": "double", "router_prompt_tokens": "long", "router_completion_tokens": "long",
           "router_cost_usd": "double"}
# keys of a pool member that may hold a secret's value; `api_key_env` names a variable and is kept
SECRET_KEYS = frozenset({"api_key"})


def registered_name(profile: str) -> str:
    """The registry name of a profile's router (`globals.yml`'s `profile`)."""
    return f"r2-router-{profile}"


def router_config(pool: dict, pool_manifest: dict, evaluation: dict, method: Method, root: str) -> dict:
    """What the model needs besides the router's weights: the pool block (members by endpoint or by
    the manifest's folder, keys by variable name only), its dated price table, the final method's
    spec, how evaluation samples and reads the router, and the project root that relative folders
    and the call cache resolve against."""
    members = {name: _public(name, spec) for name, spec in pool["members"].items()}
    manifest = {name: _public(name, pool_manifest[name]) for name in members if name in pool_manifest}
    served = {name: {"sampling": (spec or {}).get("sampling")} for name, spec in evaluation["benchmarks"].items()}
    keys = ("router", "sampling", "seeds", "cost_lambda")
    return {
        "pool": {**pool, "members": members},
        "pool_manifest": manifest,
        "evaluation": {**{k: evaluation[k] for k in keys if k in evaluation}, "benchmarks": served,
                       "methods": [{"kind": method.kind, **method.model_dump(mode="json", exclude_none=True)}]},
        "project_root": str(root),
    }


def _public(member: str, spec: dict) -> dict:
    """A member's settings without a key's value: the served pool reads `api_key_env` instead."""
    if SECRET_KEYS & set(spec):
        logger.warning("pool member %r: its `api_key` is left out of the router model; the served router reads the "
                       "key from the variable `api_key_env` names", member)
    return {k: v for k, v in spec.items() if k not in SECRET_KEYS}


def secret_values(pool: dict) -> list[str]:
    """The keys a pool's members read: values of the variables their `api_key_env` names, and any
    `api_key` given outright. None of them may reach the logged model or a response."""
    values = []
    for spec in pool["members"].values():
        values += [spec.get(k) for k in SECRET_KEYS] + [os.environ.get(spec.get("api_key_env") or "")]
    return [v for v in values if v and v != "EMPTY"]


class ServedRouter:
    """One router configuration with its pool built once: `answer` runs a batch of questions as
    evaluation runs the final router's method, one call at a time (the backends are not shared
    between threads)."""

    def __init__(self, config: dict, decomposer: str, allocator: str, root: str | None = None):
        from ..pipelines.evaluation.nodes import (
            benchmark_sampling,
            evaluation_seeds,
            method_context,
        )

        self.config, self.evaluation = config, config["evaluation"]
        self.root = root or os.environ.get(ROOT_ENV) or config["project_root"]
        self.benchmarks = list(self.evaluation["benchmarks"])
        self.seed = evaluation_seeds(self.evaluation)[0]
        self._sampling = {b: benchmark_sampling(b, self.evaluation) for b in self.benchmarks}
        with rooted(self.root):  # the manifest's member folders and the call cache are the project's
            self.pool = pool_from_params(config["pool_manifest"], config["pool"])
        self.router = self.evaluation["methods"][0]["router"]
        self.context = method_context(config["pool"], self.evaluation, self.pool, None,
                                      {self.router: (decomposer, allocator)})
        self._lock = threading.Lock()

    def method(self, benchmark: str) -> Method:
        return benchmark_methods(self.evaluation, benchmark, self.pool.members, [self.router])[0]

    def answer(self, questions: list[str], seed: int | None = None, benchmark: str | None = None) -> pd.DataFrame:
        """One row per question, in order, with the columns of COLUMNS."""
        seed, benchmark = self.seed if seed is None else int(seed), benchmark or self.benchmarks[0]
        if benchmark not in self.benchmarks:
            raise ValueError(f"benchmark {benchmark!r} is not one this router serves: {self.benchmarks}")
        examples = [Example(f"q{i}", str(q), None) for i, q in enumerate(questions)]
        sampling = replace(self._sampling[benchmark], seed=seed)
        with self._lock:
            result = run_method(self.method(benchmark), self.pool, get_task(benchmark), examples, sampling,
                                replace(self.context, seed=seed))
        rows = [_row(trace, result, i) for i, trace in enumerate(result.traces)]
        return pd.DataFrame(rows, columns=list(COLUMNS)).astype({k: _DTYPES[v] for k, v in COLUMNS.items()})


_DTYPES = {"string": object, "long": "int64", "double": "float64"}


def _row(trace: list[StepTrace], result, i: int) -> dict[str, Any]:
    value = final_value(trace)
    steps = [{"subtask": t.filled if t.filled is not None else t.subtask, "member": t.member,
              "answer": None if t.value is None else str(t.value)} for t in trace]
    return {"answer": "" if value is None else str(value), "trace": json.dumps(steps),
            "prompt_tokens": sum(t.prompt_tokens for t in trace),
            "completion_tokens": sum(t.completion_tokens for t in trace),
            "cost_usd": sum(t.cost_usd for t in trace),
            "router_prompt_tokens": result.router_prompt_tokens[i],
            "router_completion_tokens": result.router_completion_tokens[i],
            "router_cost_usd": result.router_cost_usd[i]}


def questions_of(model_input: Any) -> list[str]:
    """The questions of a request: a frame's `question` column, a `{"question": [...]}` mapping (which
    MLflow hands over as one row holding the list), or a plain list of strings."""
    if isinstance(model_input, pd.DataFrame):
        if "question" not in model_input.columns:
            raise ValueError(f"the input needs a `question` column; it has {list(model_input.columns)}")
        cells = model_input["question"].tolist()
        return [q for cell in cells for q in (cell if isinstance(cell, list | tuple | np.ndarray) else [cell])]
    if isinstance(model_input, dict):
        if "question" not in model_input:
            raise ValueError(f"the input needs a `question` key; it has {list(model_input)}")
        column = model_input["question"]
        return [column] if isinstance(column, str) else list(column)
    if isinstance(model_input, str):
        return [model_input]
    return list(model_input)


class RouterModel(mlflow.pyfunc.PythonModel):
    """`mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"question": [...]}), params={"seed": 0})`:
    one row per question with the columns of COLUMNS. `seed` defaults to the first evaluation seed,
    `benchmark` to the first evaluated benchmark. Relative pool folders and the call cache resolve
    against $R2_PROJECT_ROOT, else the project root recorded when the model was logged."""

    def load_context(self, context) -> None:
        config = json.loads(Path(context.artifacts["config"]).read_text())
        self.router = ServedRouter(config, context.artifacts["decomposer"], context.artifacts["allocator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        return self.router.answer(questions_of(model_input), params.get("seed"), params.get("benchmark"))
