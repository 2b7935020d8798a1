"""Math graders (MATH, CHAMP, AIME, GSM8K), table-driven: a model's reply in, the score out."""

from __future__ import annotations

import re

import pytest

from r2_pipeline.tasks.base import Example, get_task
from r2_pipeline.tasks.champ import answer_variants, nested_aside, plain_notation
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


CHAMP_TABLE = [
    ("\\boxed{No}", "No", 1.0),
    ("\\boxed{\\text{No}}", "No", 1.0),
    ("The answer is no.", "No", 1.0),
    ("\\boxed{Yes}", "No", 0.0),
    ("\\boxed{98}", "98 values", 1.0),
    ("\\boxed{99}", "98 values", 0.0),
    ("\\boxed{2^{n-1}}", "2^(n-1)", 1.0),
    ("\\boxed{\\frac{n(n+1)(2n+1)}{6}}", "sum_(i=1)^n i^2, or equivalently n(n+1)(2n+1)/6", 1.0),
    ("\\boxed{x=2, y=1}", "x=2, y=1", 1.0),
    ("\\boxed{x=3, y=1}", "x=2, y=1", 0.0),
    ("\\boxed{\\frac{1}{n+1}}", "1/(n+1)", 1.0),
    ("", "239", 0.0),
    # several values: one of them is not the answer; a rephrasing after ', or' still is
    ("\\boxed{376}", "376 and 625", 0.0),
    ("\\boxed{376 \\text{ and } 625}", "376 and 625", 1.0),
    ("\\boxed{1, 4}", "1, 4 and 9", 0.0),
    ("\\boxed{f(x)=0}", "f(x)=0 or f(x)=1", 0.0),
    ("\\boxed{(x=1, y=2)}", "(x=1, y=2) and (x=2, y=1)", 0.0),
    # two solutions in parentheses: the second is not an aside to strip
    ("\\boxed{(x=8, y=2)}", "(x=8, y=2), (x=2, y=8)", 0.0),
    ("\\boxed{(x=8, y=2), (x=2, y=8)}", "(x=8, y=2), (x=2, y=8)", 1.0),
    ("\\boxed{\\frac{5}{14}}", "5/14, or approximately 35.7%", 1.0),
    # plain-text sums and floors, which math-verify reads as the constant 1 or 2: as LaTeX instead
    ("\\boxed{1}", "sum_(k=1)^n 1/k", 0.0),
    ("\\boxed{\\sum_{k=1}^{n} \\frac{1}{k}}", "sum_(k=1)^n 1/k", 1.0),
    ("\\boxed{1}", "sum_(i=1)^n i^3, or equivalently (n(n+1)/2)^2", 0.0),
    ("\\boxed{\\left(\\frac{n(n+1)}{2}\\right)^2}", "sum_(i=1)^n i^3, or equivalently (n(n+1)/2)^2", 1.0),
    ("\\boxed{2}", "2^floor(n/2)*floor(n/2)!", 0.0),
    ("\\boxed{2^{\\lfloor n/2 \\rfloor} \\left\\lfloor \\frac{n}{2} \\right\\rfloor!}", "2^floor(n/2)*floor(n/2)!", 1.0),
    ("\\boxed{2^floor(n/2)*floor(n/2)!}", "2^floor(n/2)*floor(n/2)!", 1.0),
    # a nested aside is not an answer of its own
    ("\\boxed{1}", "((-1)^(n+1)+n+1)/(n+2) (i.e., 1 if for odd n, and n/(n+2) for even n)", 0.0),
    ("\\boxed{\\frac{(-1)^{n+1}+n+1}{n+2}}", "((-1)^(n+1)+n+1)/(n+2) (i.e., 1 if for odd n, and n/(n+2) for even n)", 1.0),
]


@pytest.mark.parametrize(("reply", "gold", "expected"), CHAMP_TABLE)
def test_champ(reply, gold, expected):
    assert score("champ", reply, gold, golds=answer_variants(gold)) == expected


@pytest.mark.slow
def test_every_champ_gold_grades_correct_when_boxed():
    task = get_task("champ")
    examples = task.load("offline")
    wrong = [e.id for e in examples if task.grade(task.parse(f"\\boxed{{{e.answer}}}"), e) != 1.0]
    assert wrong == []


@pytest.mark.slow
def test_no_champ_gold_reads_as_a_bare_number_unless_it_is_one():
    """math-verify reads some plain-text notation as a constant; a gold with a variable in it that
    parses to a number would grade that number right."""
    from math_verify import parse

    task = get_task("champ")
    misread = []
    for example in task.load("offline"):
        for gold in example.meta["golds"]:
            if plain_notation(gold) or nested_aside(gold):
                continue  # compared as text
            parsed = parse(f"${gold}$")
            words = re.sub(r"\\[A-Za-z]+|\(i\.e\.,[^)]*\)|[A-Za-z]{2,}", "", gold)
            if parsed and getattr(parsed[0], "is_Number", False) and re.search(r"[A-Za-z]", words):
                misread.append((example.id, gold, parsed[0]))
    assert misread == []


def test_champ_variants_keep_the_math_before_words():
    assert answer_variants("0 (i.e., no sequence is bounded)") == [
        "0 (i.e., no sequence is bounded)",
        "0",
    ]
    assert answer_variants("No positive integer solutions") == ["No positive integer solutions"]


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
