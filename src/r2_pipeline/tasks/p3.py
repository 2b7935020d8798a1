"""P3, Python Programming Puzzles: find an input that makes `sat` return True, graded by running the
puzzle on the candidate's `sol()` in the sandbox. Not on the hub: pass the path of the P3 repo's
`puzzles/puzzles.json`; "offline" reads `samples/p3.json`, a few puzzles in that schema.
"""

from __future__ import annotations

import ast
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import SandboxGraded, extract_code
from r2_pipeline.tasks.loading import read_records, sample_file

# P3 asks for a type check before a puzzle counts as solved: an object with a custom __eq__
# could otherwise satisfy `sat` without being an answer of the declared type.
CHECK = """
def _r2_type_ok(value, spec):
    spec = spec.replace(" ", "")
    if spec.startswith("List[") and spec.endswith("]"):
        return type(value) is list and all(_r2_type_ok(v, spec[5:-1]) for v in value)
    if spec == "float":
        return type(value) in (float, int)
    kinds = {{"int": int, "str": str, "bool": bool}}
    return spec not in kinds or type(value) is kinds[spec]


_r2_answer = sol()
assert _r2_type_ok(_r2_answer, {ans_type!r}), "answer has the wrong type"
assert sat(_r2_answer) is True
"""


class P3(SandboxGraded, BenchmarkTask):
    name = "p3"
    preamble = "Find an input that makes the Python function `sat` return True."
    instruction = (
        "Write a function `sol()` that takes no arguments and returns such an input. "
        "Reply with the code in a ```python block."
    )

    def hub_rows(self, split: str) -> list[dict[str, Any]]:
        raise FileNotFoundError(
            "P3 is not on the Hugging Face hub: pass the path of puzzles/puzzles.json from "
            "github.com/microsoft/PythonProgrammingPuzzles as `source`, or source='offline'"
        )

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(sample_file("p3.json"))

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        """The gold answer is the reference `sol`; grading runs the puzzle, never compares to it."""
        description = row.get("sol_docstring", "").strip().strip('"').strip()
        bodies = row.get("sol_bodies") or []
        reference = f"{row['sol_header']}\n{bodies[0]}" if bodies else None
        question = f"```python\n{row['sat']}\n```\n{description}".strip()
        meta = {"sat": row["sat"], "ans_type": row.get("ans_type", "")}
        return Example(str(row.get("name", f"p3-{index}")), question, reference, meta)

    def parse(self, text: str) -> str | None:
        """Code defining `sol`; a bare Python expression is wrapped into one."""
        code = extract_code(text, define="sol")
        if not code or "def sol" in code:
            return code
        try:
            ast.parse(code.strip(), mode="eval")
        except SyntaxError:
            return None
        return f"def sol():\n    return ({code.strip()})"

    def program(self, prediction: Any, example: Example) -> str | None:
        # `sat` comes after the candidate, so a candidate cannot swap in a lenient one; and before
        # it too, so a candidate that tests itself (`assert sat(sol())`) finds it.
        check = CHECK.format(ans_type=example.meta["ans_type"])
        sat = example.meta["sat"]
        return f"from typing import List\n\n{sat}\n\n\n{prediction}\n\n\n{sat}\n\n{check}"


TASK = P3()
