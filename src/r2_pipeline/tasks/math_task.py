"""MATH competition problems (the MATH-500 subset by default); answers in \\boxed{}, graded with
`math-verify`. Offline copy: `samples/math.jsonl` in the MATH-500 schema.
"""

from __future__ import annotations

from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import extract_math_answer, last_boxed, math_equal
from r2_pipeline.tasks.loading import read_records, sample_file


class MATH(BenchmarkTask):
    name = "math"
    hub = "HuggingFaceH4/MATH-500"
    preamble = "Solve the following math problem."
    instruction = "Reason step by step and put the final answer in \\boxed{}."

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(sample_file("math.jsonl"))

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        """MATH-500 rows carry `answer`; original MATH rows only a solution ending in \\boxed{}."""
        answer = row.get("answer") or last_boxed(row.get("solution", ""))
        meta = {k: row[k] for k in ("subject", "type", "level") if k in row}
        return Example(str(row.get("unique_id", f"math-{index}")), row["problem"], answer, meta)

    def parse(self, text: str) -> str | None:
        return extract_math_answer(text)

    def grade(self, prediction: Any, example: Example) -> float:
        return float(math_equal(prediction, example.answer))


TASK = MATH()
