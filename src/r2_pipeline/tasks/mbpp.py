"""MBPP basic Python programming problems, graded by running the item's assert tests on the
candidate in the sandbox. Offline copy: `samples/mbpp.jsonl` in the hub's "full" schema.
"""

from __future__ import annotations

from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import SandboxGraded, extract_code
from r2_pipeline.tasks.loading import read_records, sample_file


class MBPP(SandboxGraded, BenchmarkTask):
    name = "mbpp"
    hub = "google-research-datasets/mbpp"
    hub_config = "full"
    preamble = "You are an expert Python programmer, and here is your task:"
    instruction = "Reply with the complete solution in a ```python block."

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(sample_file("mbpp.jsonl"))

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        """Full rows say `text`/`test_setup_code`; sanitized rows `prompt`/`test_imports`."""
        text = row.get("text") or row["prompt"]
        imports = row.get("test_imports")  # a list, or a numpy array from a parquet file
        setup = row.get("test_setup_code") or "\n".join([] if imports is None else list(imports))
        tests = list(row["test_list"])
        question = f"{text}\nYour code should pass these tests:\n\n" + "\n".join(tests)
        meta = {"tests": tests, "setup": setup}
        return Example(f"mbpp-{row.get('task_id', index)}", question, row["code"], meta)

    def parse(self, text: str) -> str | None:
        return extract_code(text)

    def program(self, prediction: Any, example: Example) -> str | None:
        tests = "\n".join(example.meta["tests"])
        return f"{example.meta['setup']}\n{prediction}\n\n{tests}\n"


TASK = MBPP()
