"""The micro world as a benchmark: examples come from the generated splits, graded by exact value."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ...paths import from_root
from .. import plan_text
from ..base import Example
from . import plans, prompts


class MicroTask:
    name = "micro"

    def load(self, source: Any = None, split: str = "test", limit: int | None = None) -> list[Example]:
        """`source` is a split table from `data_generation` (or a parquet path to one)."""
        if source is None:
            raise ValueError("the micro benchmark reads a split table of data_generation: pass the table, or "
                             "set evaluation.benchmarks.micro.source to its parquet file")
        frame = source if isinstance(source, pd.DataFrame) else pd.read_parquet(from_root(source))
        missing = sorted({"id", "question", "answer"} - set(frame.columns))
        if missing:
            raise ValueError(f"a micro split table needs columns id, question, answer; missing {missing} "
                             f"(columns: {list(frame.columns)}); write it with data_generation")
        if limit is not None:
            frame = frame.head(limit)
        return [examples_row(row) for row in frame.to_dict("records")]

    def prompt(self, example: Example) -> str:
        return example.question

    def parse(self, text: str) -> int | None:
        return prompts.parse_final_answer(text)

    def grade(self, prediction: Any, example: Example) -> float:
        return float(prediction is not None and int(prediction) == int(example.answer))

    # A micro subtask is self-contained once earlier answers are substituted in.
    def subtask_prompt(self, question: str, history: list[tuple[str, Any]], subtask: str) -> str:
        return prompts.member_prompt(subtask)

    def parse_subtask(self, prompt: str, text: str) -> int | None:
        return prompts.parse_member_answer(prompt, text)

    def substitute(self, subtask: str, answers: list[Any]) -> str | None:
        return plan_text.substitute(subtask, answers)

    def exact_subtask(self, subtask: str | None) -> int | None:
        """The exact value of a substituted subtask (what the micro verifier checks against)."""
        step = plans.parse_subtask(subtask) if subtask else None
        try:
            return step.value if step is not None else None
        except ValueError:
            return None

    def reference_subtasks(self, example: Example) -> list[str]:
        return list(example.meta["subtasks"])

    # What the router sees and writes: the same builders serve SFT data, RL rollouts and evaluation.
    def decomposer_prompt(self, question: str) -> str:
        """The question with its numbers tagged `$k=n`; the plan cites them as `$k`."""
        return f"{plans.tag_quantities(question)}\nSteps:\n"

    def format_plan(self, subtasks: list[str], question: str | None = None) -> str:
        """The decomposer's target text; with the question, its numbers are cited as `$k`."""
        if question is not None:
            subtasks = plans.cite_quantities(subtasks, question)
        return plan_text.format_decomposition(subtasks)

    def parse_plan(self, text: str, question: str | None = None) -> list[str] | None:
        """Subtasks of a decomposer's text, `$k` citations resolved against the question; None
        when the text is not a plan or cites a number the question does not have."""
        plan = plan_text.parse_decomposition(text)
        if plan is None or question is None:
            return plan
        return plans.resolve_quantities(plan, question)

    def allocator_prompt(self, question: str, history: list[tuple[str, Any]], subtask: str) -> str:
        """Micro: the subtask with earlier answers substituted, in the members' own format.

        Substitution already carries what earlier subtasks contribute to this one's difficulty;
        the question text adds nothing a micro allocator could use, and would make it 40x longer.
        """
        return prompts.member_prompt(subtask) + ">"


def examples_row(row: dict) -> Example:
    meta = {k: v for k, v in row.items() if k not in {"id", "question", "answer"}}
    for key in ("subtasks", "buckets"):
        if isinstance(meta.get(key), str):
            meta[key] = json.loads(meta[key])
    return Example(id=str(row["id"]), question=row["question"], answer=int(row["answer"]), meta=meta)


TASK = MicroTask()
