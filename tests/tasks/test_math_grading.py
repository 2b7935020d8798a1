"""Math graders (MATH, AIME, GSM8K), table-driven: a model's reply in, the score out."""

from __future__ import annotations

import pytest

from r2_pipeline.tasks.base import Example, get_task
from r2_pipeline.tasks.grading import math_equal


def score(name: str, reply: str, answer: str, **meta) -> float:
    task = get_task(name)
    return task.grade(task.parse(reply), Example("x", "q", answer, meta))


HALF = "\\frac{1}{2}"
MATH_TABLE = [
    # (reply, gold, score)
    ("So the result is $\\boxed{\\frac{1}{2}}$.", HALF, 1.0),
    ("\\boxed{0.5}", HALF, 1.0),
    ("\\boxed{1/2}", HALF, 1.0),
    ("\\boxed{\\dfrac{2}{4}}", HALF, 1.0),
    ("The final answer is 0.5", HALF, 1.0),
    ("\\boxed{0.25}", HALF, 0.0),
    ("\\boxed{\\frac{14}{3}}", "\\frac{14}{3}", 1.0),
    ("\\boxed{4.67}", "\\frac{14}{3}", 0.0),
    ("\\boxed{\\sqrt{242}}", "11\\sqrt2", 1.0),
    ("\\boxed{11\\sqrt{2}}", "11\\sqrt2", 1.0),
    ("\\boxed{-q + p}", "p - q", 1.0),
    ("\\boxed{q - p}", "p - q", 0.0),
    ("\\boxed{(3, \\frac{\\pi}{2})}", "\\left( 3, \\frac{\\pi}{2} \\right)", 1.0),
    ("\\boxed{(3, \\pi)}", "\\left( 3, \\frac{\\pi}{2} \\right)", 0.0),
    ("\\boxed{9}", "9", 1.0),
    ("\\boxed{\\text{9}}", "9", 1.0),
    ("\\boxed{10}", "9", 0.0),
    ("\\boxed{\\frac{1}{2", HALF, 0.0),  # malformed: unbalanced braces
    ("I am not sure.", HALF, 0.0),
    ("", HALF, 0.0),
]


@pytest.mark.parametrize(("reply", "gold", "expected"), MATH_TABLE)
def test_math(reply, gold, expected):
    assert score("math", reply, gold) == expected


AIME_TABLE = [
    ("... hence \\boxed{70}.", "70", 1.0),
    ("\\boxed{070}", "70", 1.0),
    ("Answer: 70", "70", 1.0),
    ("\\boxed{336}", "336^\\circ", 1.0),
    ("\\boxed{71}", "70", 0.0),
    ("\\boxed{}", "70", 0.0),
    ("", "70", 0.0),
]


@pytest.mark.parametrize(("reply", "gold", "expected"), AIME_TABLE)
def test_aime(reply, gold, expected):
    assert score("aime", reply, gold) == expected


GSM8K_TABLE = [
    ("16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\nAnswer: 18", "18", 1.0),
    ("Answer: $18.00", "18", 1.0),
    ("She makes \\boxed{18} dollars.", "18", 1.0),
    ("The answer is 18 dollars.", "18", 1.0),
    ("Answer: 1,600", "1600", 1.0),
    ("So 9 eggs. Answer: 17", "18", 0.0),
    ("Answer: eighteen", "18", 0.0),
    # the number the answer line states, not the last one written on it
    ("The answer is 18 dollars, which is 9 * 2.", "18", 1.0),
    ("Answer: 9 * 2 = 18", "18", 1.0),
    ("Answer: 9 * 2 = $18 (9 eggs at $2)", "18", 1.0),
    ("Answer: In 9 days she saves $18", "18", 1.0),  # no number opens the line: its last
    ("The answer is: after 3 days, Tom has 18 apples.", "18", 1.0),
    ("Answer: 6 * 3 → 18", "18", 1.0),
    ("Answer: 18 (= 6 * 3)", "18", 1.0),
    ("Final answer: **$1,800**", "1800", 1.0),
    ("Answer: -$5", "-5", 1.0),  # a loss: the minus before the currency sign counts
    ("Answer: $5", "-5", 0.0),
    ("Answer: 18\n\nLet me know if my answer is unclear or if you need 2 more steps.", "18", 1.0),
    ("", "18", 0.0),
]


@pytest.mark.parametrize(("reply", "gold", "expected"), GSM8K_TABLE)
def test_gsm8k(reply, gold, expected):
    assert score("gsm8k", reply, gold) == expected


def test_math_equal_word_answers_do_not_go_through_sympy():
    # sympy would read both as products of symbols (n*o == o*n).
    assert not math_equal("on", "No")
    assert not math_equal(None, "1")


@pytest.mark.parametrize(
    "prediction, gold",
    [("-18", "18"), ("35", "3.5"), ("12", "1/2"), ("2^{10}", "210"), ("\\frac{1}{2}", "-\\frac{1}{2}"),
     ("y = 2x + 3", "y = 2x - 3"), ("x^2-1", "x^2+1"), ("(1,-2)", "(-1,2)"), ("[-2,7)", "(-2,7]"),
     ("3-2i", "3+2i")],
)
def test_a_sign_a_point_or_a_bracket_is_not_punctuation(prediction, gold):
    """The text fallback after math-verify keeps the symbols: these differ only in them."""
    assert not math_equal(prediction, gold)
