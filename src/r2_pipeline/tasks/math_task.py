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
    # worked decompositions shown to the paper-profile teacher (written for this project)
    worked_decompositions = [
        ("What is the sum of the roots of $x^2 - 5x + 6 = 0$?",
         ["Factor $x^2 - 5x + 6$.", "Which values of x make #1 equal to zero?", "What is the sum of the roots #2?"]),
        ("If $f(x) = 2x + 3$, what is $f(f(1))$?",
         ["What is $f(1)$ for $f(x) = 2x + 3$?", "What is $f(#1)$ for $f(x) = 2x + 3$?"]),
        ("How many positive divisors does 36 have?",
         ["Write 36 as a product of prime powers.", "From the exponents in #1, how many positive divisors does 36 have?"]),
    ]

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
