"""CHAMP's grader, table-driven: a gold answer and a model's reply in, the score out. Golds are the
package's own wordings (or those re-typeset in LaTeX); the same `grade` feeds the RL reward."""

from __future__ import annotations

import re

import pytest

from r2_pipeline.tasks.base import Example, get_task
from r2_pipeline.tasks.champ import (
    answer_variants,
    expand_plus_minus,
    nested_aside,
    plain_notation,
    stated_value,
)

TASK = get_task("champ")


def example(gold: str) -> Example:
    return Example("x", "q", gold, {"golds": answer_variants(gold)})


def score(gold: str, reply: str) -> float:
    """What a whole completion earns: parsed, then graded."""
    return TASK.grade(TASK.parse(reply), example(gold))


CHAMP_TABLE = [
    # (gold, reply, score)
    ("No", "\\boxed{No}", 1.0),
    ("No", "\\boxed{\\text{No}}", 1.0),
    ("No", "The answer is no.", 1.0),
    ("No", "\\boxed{Yes}", 0.0),
    ("98 values", "\\boxed{98}", 1.0),
    ("98 values", "\\boxed{99}", 0.0),
    ("2^(n-1)", "\\boxed{2^{n-1}}", 1.0),
    ("sum_(i=1)^n i^2, or equivalently n(n+1)(2n+1)/6", "\\boxed{\\frac{n(n+1)(2n+1)}{6}}", 1.0),
    ("x=2, y=1", "\\boxed{x=2, y=1}", 1.0),
    ("x=2, y=1", "\\boxed{x=3, y=1}", 0.0),
    ("1/(n+1)", "\\boxed{\\frac{1}{n+1}}", 1.0),
    ("239", "", 0.0),
    # several values: one of them is not the answer; a rephrasing after ', or' still is
    ("376 and 625", "\\boxed{376}", 0.0),
    ("376 and 625", "\\boxed{376 \\text{ and } 625}", 1.0),
    ("1, 4 and 9", "\\boxed{1, 4}", 0.0),
    ("f(x)=0 or f(x)=1", "\\boxed{f(x)=0}", 0.0),
    ("(x=1, y=2) and (x=2, y=1)", "\\boxed{(x=1, y=2)}", 0.0),
    # two solutions in parentheses: the second is not an aside to strip
    ("(x=8, y=2), (x=2, y=8)", "\\boxed{(x=8, y=2)}", 0.0),
    ("(x=8, y=2), (x=2, y=8)", "\\boxed{(x=8, y=2), (x=2, y=8)}", 1.0),
    ("5/14, or approximately 35.7%", "\\boxed{\\frac{5}{14}}", 1.0),
    # plain-text sums and floors, which math-verify reads as the constant 1 or 2: as LaTeX instead
    ("sum_(k=1)^n 1/k", "\\boxed{1}", 0.0),
    ("sum_(k=1)^n 1/k", "\\boxed{\\sum_{k=1}^{n} \\frac{1}{k}}", 1.0),
    ("sum_(i=1)^n i^3, or equivalently (n(n+1)/2)^2", "\\boxed{1}", 0.0),
    ("sum_(i=1)^n i^3, or equivalently (n(n+1)/2)^2", "\\boxed{\\left(\\frac{n(n+1)}{2}\\right)^2}", 1.0),
    ("2^floor(n/2)*floor(n/2)!", "\\boxed{2}", 0.0),
    ("2^floor(n/2)*floor(n/2)!", "\\boxed{2^{\\lfloor n/2 \\rfloor} \\left\\lfloor \\frac{n}{2} \\right\\rfloor!}", 1.0),
    ("2^floor(n/2)*floor(n/2)!", "\\boxed{2^floor(n/2)*floor(n/2)!}", 1.0),
    # a nested aside is not an answer of its own
    ("((-1)^(n+1)+n+1)/(n+2) (i.e., 1 if for odd n, and n/(n+2) for even n)", "\\boxed{1}", 0.0),
    ("((-1)^(n+1)+n+1)/(n+2) (i.e., 1 if for odd n, and n/(n+2) for even n)", "\\boxed{\\frac{(-1)^{n+1}+n+1}{n+2}}", 1.0),
]

PM_ROOTS = "a(1±sqrt(2)), a(1±sqrt(5))/2"  # P_Polynomial_2
PLUS_MINUS_TABLE = [
    # ± and \\pm are the same sign, in either the gold or the reply
    ("x=±1", "\\boxed{x = \\pm 1}", 1.0),
    ("x = \\pm 1", "\\boxed{x=±1}", 1.0),
    ("x=±1", "\\boxed{x = 1, x = -1}", 1.0),
    ("x=±1", "Hence $x = \\pm 1$.", 1.0),
    ("x=±1", "x = \\pm 1", 1.0),
    ("x=±1", "\\boxed{x = 1}", 0.0),
    ("x=±1", "\\boxed{x = -1}", 0.0),
    ("x=±1", "\\boxed{x = \\pm 2}", 0.0),
    ("x=±1, ±2, ±1/2", "\\boxed{x = \\pm 1, \\pm 2, \\pm \\frac{1}{2}}", 1.0),
    ("x = \\pm 1, \\pm 2, \\pm \\frac{1}{2}", "\\boxed{x=±1, ±2, ±1/2}", 1.0),
    ("x=±1, ±2, ±1/2", "\\boxed{x = \\pm 1, \\pm 2}", 0.0),
    ("x=±1, ±2, ±1/2", "\\boxed{x = 1, 2, \\frac{1}{2}}", 0.0),
    # inside brackets math-verify reads no ±: both sides are written out as the roots they list
    (PM_ROOTS, "\\boxed{a(1\\pm\\sqrt{2}), \\frac{a(1\\pm\\sqrt{5})}{2}}", 1.0),
    (PM_ROOTS, "\\boxed{a(1 \\pm sqrt(2)), a(1 \\pm sqrt(5))/2}", 1.0),
    (PM_ROOTS, "\\boxed{a(1+\\sqrt{2}), a(1-\\sqrt{2}), \\frac{a(1+\\sqrt{5})}{2}, \\frac{a(1-\\sqrt{5})}{2}}", 1.0),
    ("a(1\\pm\\sqrt{2}), \\frac{a(1\\pm\\sqrt{5})}{2}", "\\boxed{a(1±sqrt(2)), a(1±sqrt(5))/2}", 1.0),
    (PM_ROOTS, "\\boxed{a(1\\pm\\sqrt{2}), \\frac{a(1\\pm\\sqrt{3})}{2}}", 0.0),
    (PM_ROOTS, "\\boxed{a(1+\\sqrt{2}), \\frac{a(1+\\sqrt{5})}{2}}", 0.0),
    (PM_ROOTS, "\\boxed{a(1\\pm\\sqrt{2})}", 0.0),
]

LIMIT_3 = "The limit exists and is equal to 3"  # P_Sequence_7
LIMIT_2_3 = "The limit exists and is equal to 2/3"  # P_Sequence_29
LIMIT_AB = "The limit exists and is equal to (a+3b)/2"  # P_Sequence_30
LIMIT_ROOT = "The limit exists and is equal to (1+sqrt(4a+1))/2"  # P_Sequence_41
ONLY_SQRT = "The only possible value for the limit is sqrt(a)"  # P_Sequence_16
LIMIT_HALF = "The limit exists and is equal to 1/2"
LIMIT_HALF_TEX = "The limit exists and is equal to $\\frac{1}{2}$"
STATED_TABLE = [
    # a gold that says what the limit is: its value, bare or boxed, in any equal form
    (LIMIT_HALF, "\\boxed{1/2}", 1.0),
    (LIMIT_HALF, "\\boxed{\\frac{1}{2}}", 1.0),
    (LIMIT_HALF, "1/2", 1.0),
    (LIMIT_HALF, "0.5", 1.0),
    (LIMIT_HALF, "\\boxed{0.5}", 1.0),
    (LIMIT_HALF_TEX, "\\boxed{0.5}", 1.0),
    (LIMIT_HALF_TEX, "\\boxed{1/2}", 1.0),
    (LIMIT_HALF, "\\boxed{1/3}", 0.0),
    (LIMIT_HALF, "0.25", 0.0),
    (LIMIT_HALF, "\\boxed{\\infty}", 0.0),
    (LIMIT_3, "\\boxed{3}", 1.0),
    (LIMIT_3, "\\boxed{\\text{The limit exists and is equal to } 3}", 1.0),
    (LIMIT_3, "\\boxed{\\text{The limit is } 3}", 1.0),
    (LIMIT_3, "\\boxed{2}", 0.0),
    (LIMIT_3, "\\boxed{\\text{The limit is not } 3}", 0.0),
    (LIMIT_3, "\\boxed{\\text{The limit does not exist}}", 0.0),
    (LIMIT_2_3, "\\boxed{\\frac{2}{3}}", 1.0),
    (LIMIT_2_3, "\\boxed{\\frac{3}{2}}", 0.0),
    (LIMIT_AB, "\\boxed{\\frac{a+3b}{2}}", 1.0),
    (LIMIT_AB, "\\boxed{\\frac{3a+b}{2}}", 0.0),
    (LIMIT_ROOT, "\\boxed{\\frac{1+\\sqrt{4a+1}}{2}}", 1.0),
    (LIMIT_ROOT, "\\boxed{\\frac{1-\\sqrt{4a+1}}{2}}", 0.0),
    (ONLY_SQRT, "\\boxed{\\sqrt{a}}", 1.0),
    (ONLY_SQRT, "\\boxed{a}", 0.0),
    ("The only possible value for the limit is 4", "\\boxed{4}", 1.0),  # P_Sequence_31
    # words that are no statement of a value keep their meaning
    ("The limit does not exist", "\\boxed{0}", 0.0),  # P_Sequence_12
    ("The limit does not exist", "\\boxed{\\text{The limit does not exist}}", 1.0),
    ("Always greater than 20", "\\boxed{20}", 0.0),  # P_Sequence_2
    ("0 is the only possible value", "\\boxed{0}", 1.0),  # P_Number-Theory_19
    ("0 is the only possible value", "\\boxed{1}", 0.0),
]

PROSE_TABLE = [
    # math between $...$ in a sentence, in the reply or in a re-typeset gold
    (LIMIT_HALF, "The answer is $\\frac{1}{2}$", 1.0),
    (LIMIT_HALF, "So the limit is $\\frac{1}{2}$.", 1.0),
    (LIMIT_HALF, "The answer is $\\frac{1}{3}$", 0.0),
    (LIMIT_HALF_TEX, "The answer is $\\frac{1}{2}$.", 1.0),
    (LIMIT_HALF_TEX, "The answer is $0.5$.", 1.0),
    (LIMIT_HALF_TEX, "The answer is $\\frac{1}{3}$.", 0.0),
    ("x = 3", "The answer is $x = 3$", 1.0),
    ("x = 3", "The answer is $3$.", 1.0),
    ("$x = 3$", "The answer is $x = 3$.", 1.0),
    ("$x = 3$", "\\boxed{x=3}", 1.0),
    ("x = 3", "The answer is $x = 4$", 0.0),
    ("f(x)=0", "So $f(x) = 0$.", 1.0),  # P_Polynomial_20
    ("f(x)=0", "So $f(x) = 1$.", 0.0),
    ("3 is the only possible value", "The answer is $3$.", 1.0),  # P_Number-Theory_25
    ("3 is the only possible value", "The answer is $-3$.", 0.0),
    (LIMIT_2_3, "The limit exists and equals $\\frac{2}{3}$.", 1.0),
    (LIMIT_2_3, "\\[\\lim_{n\\to\\infty} a_n = \\frac{2}{3}\\]", 1.0),
]

SEQUENCE = "Yes, and the sequence is 1/2^3, 1/2^6, 1/2^9, ..."  # P_Sequence_43
VERDICT_TABLE = [
    # a Yes for a No (or the reverse) is wrong whatever follows it
    ("Yes", "\\boxed{No}", 0.0),
    ("Yes", "\\boxed{\\text{Yes}}", 1.0),
    ("No", "The answer is yes.", 0.0),
    (SEQUENCE, "\\boxed{Yes, and the sequence is 1/2^3, 1/2^6, 1/2^9, ...}", 1.0),
    (SEQUENCE, "\\boxed{\\text{No, and the sequence is } 1/2^3, 1/2^6, 1/2^9, \\ldots}", 0.0),
    (SEQUENCE, "\\boxed{No}", 0.0),
    ("No integer solutions", "\\boxed{\\text{Yes}}", 0.0),  # P_Number-Theory_7
]


@pytest.mark.parametrize(
    ("gold", "reply", "expected"),
    CHAMP_TABLE + PLUS_MINUS_TABLE + STATED_TABLE + PROSE_TABLE + VERDICT_TABLE,
)
def test_champ(gold, reply, expected):
    assert score(gold, reply) == expected


AS_GIVEN_TABLE = [
    # a final answer graded as given, unparsed (the RL reward grades the executor's last answer)
    (LIMIT_HALF, "The limit is $\\frac{1}{2}$", 1.0),
    (LIMIT_HALF, "The limit is $\\frac{1}{3}$", 0.0),
    (LIMIT_3, "The limit is 3.", 1.0),
    ("x=±1", "The roots are $x = \\pm 1$", 1.0),
    ("x=±1", "x = \\pm 1", 1.0),
    (PM_ROOTS, "The roots are $a(1\\pm\\sqrt{2})$ and $\\frac{a(1\\pm\\sqrt{5})}{2}$", 0.0),
    (SEQUENCE, "No, and the sequence is 1/2^3, 1/2^6, 1/2^9, ...", 0.0),
    (SEQUENCE, "Yes, and the sequence is $1/2^3, 1/2^6, 1/2^9, \\dots$", 1.0),
    ("No", None, 0.0),
]


@pytest.mark.parametrize(("gold", "prediction", "expected"), AS_GIVEN_TABLE)
def test_champ_grades_a_final_answer_as_given(gold, prediction, expected):
    grade = TASK.grade(prediction, example(gold))
    assert type(grade) is float and grade == expected


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [("Hence $x = \\pm 1$.", "x = \\pm 1"), ("\\frac{1}{2}", "\\frac{1}{2}"), ("0.5", "0.5"),
     ("so \\(x=3\\) and no other", "x=3"), ("Answer: $3$, since $n = 2$", "$3$, since $n = 2$"),
     ("There are 239 strings.", "239"), ("I am not sure.", None)],
)
def test_champ_parse_prefers_the_last_math_span_to_the_last_number(reply, parsed):
    assert TASK.parse(reply) == parsed


@pytest.mark.slow
def test_every_champ_gold_grades_correct_when_boxed():
    examples = TASK.load("offline")
    wrong = [e.id for e in examples if TASK.grade(TASK.parse(f"\\boxed{{{e.answer}}}"), e) != 1.0]
    assert wrong == []


@pytest.mark.slow
def test_every_stated_champ_gold_grades_correct_as_its_bare_value():
    stated = [(e, stated_value(e.answer)) for e in TASK.load("offline") if stated_value(e.answer)]
    assert len(stated) == 9  # 'The limit exists and is equal to X' (7), 'The only possible value ...' (2)
    assert [e.id for e, value in stated if TASK.grade(f"\\boxed{{{value}}}", e) != 1.0] == []
    assert [e.id for e, value in stated if TASK.grade(value, e) != 1.0] == []


@pytest.mark.slow
def test_every_champ_gold_with_a_plus_minus_grades_correct_with_the_latex_sign():
    signed = [e for e in TASK.load("offline") if "±" in e.answer]
    assert len(signed) == 3
    latex = {e.id: e.answer.replace("±", "\\pm ") for e in signed}
    wrong = [e.id for e in signed if TASK.grade(TASK.parse(f"\\boxed{{{latex[e.id]}}}"), e) != 1.0]
    assert wrong == []


@pytest.mark.slow
def test_no_champ_gold_reads_as_a_bare_number_unless_it_is_one():
    """math-verify reads some plain-text notation as a constant; a gold with a variable in it that
    parses to a number would grade that number right."""
    from math_verify import parse

    misread = []
    for ex in TASK.load("offline"):
        for gold in ex.meta["golds"]:
            if plain_notation(gold) or nested_aside(gold):
                continue  # compared as text
            parsed = parse(f"${gold}$")
            words = re.sub(r"\\[A-Za-z]+|\(i\.e\.,[^)]*\)|[A-Za-z]{2,}", "", gold)
            if parsed and getattr(parsed[0], "is_Number", False) and re.search(r"[A-Za-z]", words):
                misread.append((ex.id, gold, parsed[0]))
    assert misread == []


def test_champ_variants_keep_the_math_before_words():
    assert answer_variants("0 (i.e., no sequence is bounded)") == [
        "0 (i.e., no sequence is bounded)",
        "0",
    ]
    assert answer_variants("No positive integer solutions") == ["No positive integer solutions"]


@pytest.mark.parametrize(
    ("text", "value"),
    [(LIMIT_2_3, "2/3"), (ONLY_SQRT, "sqrt(a)"), (LIMIT_HALF_TEX, "\\frac{1}{2}"),
     ("The roots are $x = \\pm 1$", "x = \\pm 1"), ("The limit does not exist", None),
     ("The limit is not 2", None), (SEQUENCE, None), ("0 is the only possible value", None),
     ("The function is periodic, with a period of 8", None), ("x = 3", None)],
)
def test_stated_value(text, value):
    assert stated_value(text) == value


@pytest.mark.parametrize(
    ("text", "expanded"),
    [(PM_ROOTS, "a(1+sqrt(2)), a(1-sqrt(2)), a(1+sqrt(5))/2, a(1-sqrt(5))/2"),
     ("x=\\pm 1, 3", "x=+ 1, x=- 1, 3"), ("\\frac{1 \\pm \\sqrt{5}}{2}", "\\frac{1 + \\sqrt{5}}{2}, \\frac{1 - \\sqrt{5}}{2}"),
     ("x \\pmod 3", None), ("\\pm 1 \\pm \\sqrt{2}", None), ("The roots are $\\pm 1$", None), ("3", None)],
)
def test_expand_plus_minus(text, expanded):
    assert expand_plus_minus(text) == expanded
