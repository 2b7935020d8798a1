"""Graders that execute code in the sandbox: P3, MBPP and HumanEval."""

from __future__ import annotations

import pytest

from r2_pipeline.tasks.base import Example, get_task
from r2_pipeline.tasks.grading import grade_all


def fenced(code: str) -> str:
    return f"Here is my solution:\n```python\n{code}\n```\nIt works because ..."


@pytest.fixture(scope="module")
def p3():
    task = get_task("p3")
    return task, {e.id: e for e in task.load("offline")}


def test_p3_reference_solutions_pass_and_wrong_ones_fail(p3):
    task, examples = p3
    examples = list(examples.values())
    replies = [fenced(e.answer) for e in examples] + [fenced("def sol():\n    return 0")] * len(
        examples
    )
    scores = grade_all(task, [task.parse(r) for r in replies], examples + examples)
    assert scores == [1.0] * len(examples) + [0.0] * len(examples)


P3_TABLE = [
    # (puzzle, reply, score)
    ("Study_1:0", "('h' + 'o') * 1000", 1.0),  # a bare expression is wrapped into sol()
    ("Study_1:0", fenced("def sol():\n    return 'ho' * 1000"), 1.0),
    ("Study_6:0", fenced("def sol():\n    return 4 + 123 * 10**9"), 1.0),
    ("Study_13:0", fenced("def sol():\n    return 126.5975"), 1.0),
    ("Study_1:0", fenced("def sol():\n    return 'oo' * 500"), 0.0),
    (
        "Study_4:0",
        fenced("def sol():\n    return tuple(range(5)) * 2"),
        0.0,
    ),  # satisfies sat, wrong type
    ("Study_6:0", fenced("def sat(i):\n    return True\n\ndef sol():\n    return 1"), 0.0),
    ("Study_6:0", fenced("def sol(:\n    return 1"), 0.0),  # malformed
    ("Study_1:0", fenced("def sol():\n    return 'ho' * 1000\n\nassert sat(sol())"), 1.0),  # tests itself
    ("Study_6:0", "no idea", 0.0),
    ("Study_6:0", "", 0.0),
]


def test_p3_table(p3):
    task, examples = p3
    predictions = [task.parse(reply) for _, reply, _ in P3_TABLE]
    rows = [examples[name] for name, _, _ in P3_TABLE]
    assert task.grade_many(predictions, rows) == [s for _, _, s in P3_TABLE]


def test_mbpp_reference_code_passes_and_table():
    task = get_task("mbpp")
    examples = task.load("offline")
    first = examples[0]
    table = [
        (fenced(first.answer), 1.0),
        (first.answer, 1.0),  # unfenced code
        (fenced("def remove_Occ(s, ch):\n    return s.strip(ch)"), 0.0),  # wrong on 'hello'
        (fenced("def remove_Occ(s, ch)\n    return s"), 0.0),  # malformed
        ("", 0.0),
    ]
    predictions = [task.parse(e.answer) for e in examples] + [task.parse(r) for r, _ in table]
    rows = examples + [first] * len(table)
    assert task.grade_many(predictions, rows) == [1.0] * len(examples) + [s for _, s in table]


def test_mbpp_sanitized_rows_read_from_parquet(tmp_path):
    """Sanitized rows say `prompt` and `test_imports`; read from parquet, the imports are a numpy array."""
    import pandas as pd

    row = {"task_id": 7, "prompt": "Write a function that returns the square root of x.",
           "code": "import math\ndef root(x):\n    return math.sqrt(x)", "test_imports": ["import math", "import re"],
           "test_list": ["assert math.isclose(root(4), 2)"]}
    pd.DataFrame([row]).to_parquet(tmp_path / "mbpp.parquet")
    task = get_task("mbpp")
    (example,) = task.load(str(tmp_path / "mbpp.parquet"))
    assert example.meta["setup"] == "import math\nimport re"
    assert task.grade_many([task.parse(row["code"])], [example]) == [1.0]


@pytest.fixture(scope="module")
def humaneval():
    task = get_task("humaneval")
    return task, task.load("offline")


@pytest.mark.slow
def test_humaneval_canonical_solutions_all_pass_and_broken_ones_fail(humaneval):
    """All 164 canonical solutions, and each one broken (it raises before doing anything)."""
    task, examples = humaneval
    canonical = [e.answer for e in examples]
    broken = ["    raise NotImplementedError\n" + e.answer for e in examples]
    scores = task.grade_many(canonical + broken, examples + examples)
    failed = [e.id for e, s in zip(examples, scores[: len(examples)]) if s != 1.0]
    assert failed == []
    assert sum(scores[len(examples) :]) == 0.0


def test_humaneval_accepts_a_whole_function_in_a_chat_reply(humaneval):
    task, examples = humaneval
    example = examples[2]  # truncate_number: helper-free, no imports
    whole = example.question + example.answer
    wrong = whole.replace("return number % 1.0", "return number")
    replies = [fenced(whole), fenced(wrong), "```python\ndef truncate_number(", ""]
    scores = task.grade_many([task.parse(r) for r in replies], [example] * len(replies))
    assert scores == [1.0, 0.0, 0.0, 0.0]


def test_humaneval_program_keeps_the_prompt_imports(humaneval):
    task, examples = humaneval
    program = task.program(
        "def has_close_elements(numbers, threshold):\n    return False", examples[0]
    )
    assert program.startswith("from typing import List")
    assert program.rstrip().endswith("check(has_close_elements)")


def test_grade_works_one_at_a_time_too():
    task = get_task("mbpp")
    example = task.load("offline")[3]
    assert task.grade(task.parse(fenced(example.answer)), example) == 1.0
    assert task.grade(None, example) == 0.0
    assert task.grade("", Example("x", "q", "", {"tests": ["assert False"], "setup": ""})) == 0.0
