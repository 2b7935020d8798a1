"""Shared extraction and scoring helpers."""

from __future__ import annotations

import pytest

from r2_pipeline.tasks.grading import (
    answer_after_marker,
    extract_code,
    extract_math_answer,
    last_boxed,
    last_number,
    normalize_answer,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x \\boxed{\\frac{1}{2}} y", "\\frac{1}{2}"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\fbox{7}", "7"),
        ("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("\\boxed{1", None),
        ("\\boxed{}", None),
        ("no box", None),
        ("", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so 3 + 4 = 7 and 1,234 in total", "1234"),
        ("cost $5.50.", "5.50"),
        ("-3 degrees", "-3"),
        ("ratio 3/4", "3/4"),
        ("none", None),
    ],
)
def test_last_number(text, expected):
    assert last_number(text) == expected


def test_answer_markers():
    assert answer_after_marker("work\nFinal answer: 42.") == "42"
    assert answer_after_marker("The answer is **B**") == "B"
    assert answer_after_marker("I answered quickly") is None
    # a chat model's sign-off after its answer line is not the answer
    assert answer_after_marker("Answer: 18\n\nLet me know if my answer is unclear or if you need 2 more steps.") == "18"
    assert answer_after_marker("Answer: Khartoum\n\nI hope this answer is helpful!") == "Khartoum"
    assert answer_after_marker("**Final answer:** 7\nso the answer is 8 (corrected)") == "8 (corrected)"
    assert answer_after_marker("So 9 eggs. Answer: 17") == "17"  # no line opens with one: the last anywhere
    assert extract_math_answer("answer: 3 but \\boxed{4}") == "4"


CODE = "def f(x):\n    return x"


@pytest.mark.parametrize(
    ("text", "define", "expected"),
    [
        (f"```python\n{CODE}\n```", None, CODE),
        (f"```py\n{CODE}\n```", None, CODE),
        (f"```\n{CODE}\n```", None, CODE),
        (f"text\n```python\nprint(1)\n```\n```python\n{CODE}\n```", None, CODE),
        (
            f"```python\n{CODE}\n```\n```python\ndef sol():\n    return 1\n```",
            "sol",
            "def sol():\n    return 1",
        ),
        (f"```python\n{CODE}", None, CODE),  # cut off before the closing fence
        (CODE, None, CODE),
        ("```javascript\nlet x = 1\n```", None, None),
        ("", None, None),
    ],
)
def test_extract_code(text, define, expected):
    assert extract_code(text, define) == expected


def test_token_f1_and_normalization():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert token_f1("the Paris", "Paris") == 1.0
    assert token_f1("Paris France", "Paris") == pytest.approx(2 / 3)
    assert token_f1(None, "Paris") == 0.0
    assert token_f1("", "") == 0.0
