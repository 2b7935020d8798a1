"""The micro world as a benchmark: examples come from the generated splits, graded by exact value."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from . import micro
from .base import Example


class MicroTask:
    name = "micro"

    def load(self, source: Any = None, split: str = "test", limit: int | None = None) -> list[Example]:
        """`source` is a split table from `data_generation` (or a parquet path to one)."""
        frame = source if isinstance(source, pd.DataFrame) else pd.read_parquet(source)
        if limit is not None:
            frame = frame.head(limit)
        return [examples_row(row) for row in frame.to_dict("records")]

    def prompt(self, example: Example) -> str:
        return example.question

    def parse(self, text: str) -> int | None:
        return micro.parse_final_answer(text)

    def grade(self, prediction: Any, example: Example) -> float:
        return float(prediction is not None and int(prediction) == int(example.answer))

    # A micro subtask is self-contained once earlier answers are substituted in.
    def subtask_prompt(self, question: str, history: list[tuple[str, Any]], subtask: str) -> str:
        return micro.member_prompt(subtask)

    def parse_subtask(self, prompt: str, text: str) -> int | None:
        return micro.parse_member_answer(prompt, text)

    def reference_subtasks(self, example: Example) -> list[str]:
        return list(example.meta["subtasks"])


def examples_row(row: dict) -> Example:
    meta = {k: v for k, v in row.items() if k not in {"id", "question", "answer"}}
    for key in ("subtasks", "buckets"):
        if isinstance(meta.get(key), str):
            meta[key] = json.loads(meta[key])
    return Example(id=str(row["id"]), question=row["question"], answer=int(row["answer"]), meta=meta)


TASK = MicroTask()
