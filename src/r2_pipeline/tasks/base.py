"""What every benchmark module provides: load examples, build a prompt, parse an answer, grade it.

The RL reward and evaluation both call `grade`, so a benchmark is scored the same way everywhere.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Example:
    """One benchmark item: `answer` is the gold answer in the form `grade` expects."""

    id: str
    question: str
    answer: Any
    meta: dict[str, Any] = field(default_factory=dict)

    def columns(self) -> dict[str, str]:
        """The example as table columns: id, question, and answer and meta as JSON."""
        return {"id": self.id, "question": self.question, "answer": json.dumps(self.answer),
                "meta": json.dumps(self.meta, default=str)}

    @classmethod
    def from_row(cls, row: Any) -> Example:
        """Back from a table row (`itertuples`) written with `columns`."""
        return cls(row.id, row.question, json.loads(row.answer), json.loads(row.meta))


class Task(Protocol):
    name: str

    def load(self, source: str | None = None, split: str = "test", limit: int | None = None) -> list[Example]:
        """From a local JSONL/parquet file when `source` is a path, else from the hub by name."""

    def prompt(self, example: Example) -> str: ...

    def parse(self, text: str) -> Any: ...

    def grade(self, prediction: Any, example: Example) -> float:
        """1.0 for correct, 0.0 for wrong (token F1 and the like may give values in between)."""

    def substitute(self, subtask: str, answers: list[Any]) -> str | None:
        """The subtask with earlier answers written in (`#k` is subtask k's); None when one it
        needs is missing."""


TASK_MODULES = {
    "micro": "r2_pipeline.tasks.micro.task",
    "p3": "r2_pipeline.tasks.p3",
    "scan": "r2_pipeline.tasks.scan",
    "math": "r2_pipeline.tasks.math_task",
    "champ": "r2_pipeline.tasks.champ",
    "csqa": "r2_pipeline.tasks.csqa",
    "musique": "r2_pipeline.tasks.musique",
    "gsm8k": "r2_pipeline.tasks.gsm8k",
    "mbpp": "r2_pipeline.tasks.mbpp",
    "humaneval": "r2_pipeline.tasks.humaneval",
    "aime": "r2_pipeline.tasks.aime",
}


def get_task(name: str) -> Task:
    if name not in TASK_MODULES:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(TASK_MODULES)}")
    return importlib.import_module(TASK_MODULES[name]).TASK
