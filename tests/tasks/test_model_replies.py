"""How real model replies are read and graded: the forms chat and reasoning models write around
their answer (units in a box, a check of the working before the final box, one action per line, a
remark after the answer, a Unicode minus, paragraph citations). Each reply is graded by the
benchmark's own parse and grade, which the RL reward reuses."""

from __future__ import annotations

import pytest

from r2_pipeline.tasks.base import Example, get_task
from r2_pipeline.tasks.grading import answer_after_marker, extract_code, math_equal


def graded(task_name: str, reply: str, gold: str, **meta) -> float:
    task = get_task(task_name)
    return task.grade(task.parse(reply), Example("x", "question", gold, meta))


@pytest.mark.parametrize("reply, gold, right", [
    # a unit after the number, as MATH's own normalisation drops it
    (r"\boxed{12\text{ cm}^2}", "12", True),
    (r"\boxed{15 \text{ people}}", "15", True),
    (r"\boxed{\frac{1}{2}\text{ m}}", r"\frac12", True),
    (r"\boxed{13\text{ cm}}", "12", False),
    (r"\boxed{\text{No}}", "No", True),
    # a Unicode minus keeps its sign
    (r"\boxed{−3}", "-3", True),
    (r"The answer is −3.", "3", False),
])
def test_math_replies(reply, gold, right):
    assert graded("math", reply, gold) == float(right)


@pytest.mark.parametrize("reply, gold", [
    ("To check my answer: is 9 reasonable? Yes.\n16 - 3 - 4 = 9\n9 x 2 = 18\nThe final result: \\boxed{18}", "18"),
    ("<think>Let me double-check the answer: 16 - 7 = 9, times 2 is 18</think>\n**Final Answer**\n\\boxed{18}", "18"),
    ("Answer: 18. Janet has 16 - 3 - 4 = 9 eggs left.", "18"),
    ("Answer: 18, because she sells 16 - 3 - 4 = 9 eggs at $2 each.", "18"),
    ("Answer: $18 since 9 eggs x $2 = $18 and 3 + 4 = 7 eggs used.", "18"),
    ("Answer: 2 weeks * $20 = $40", "40"),
    ("Answer: 9 * 2 = 18", "18"),
    ("Answer: 18\n\nThe answer is reasonable since 18 < 32.", "18"),
    ("\\boxed{17}\nWait, I made an error. Answer: 18", "18"),
    ("Answer: −18", "-18"),
    ("Answer: – 10", "-10"),
])
def test_gsm8k_replies(reply, gold):
    assert graded("gsm8k", reply, gold) == 1.0


def test_gsm8k_a_unicode_minus_is_not_a_positive_answer():
    assert graded("gsm8k", "Answer: −18", "18") == 0.0
    assert get_task("gsm8k").parse("Pages 3–5 and 12") == "12"  # a range's dash is no sign
    assert get_task("gsm8k").parse("She reads pages 3 – 5") == "5"


@pytest.mark.parametrize("reply", [
    "Actions:\nI_TURN_LEFT\nI_WALK\nI_JUMP\nI_JUMP",
    "Actions:\nI_TURN_LEFT I_WALK\nI_JUMP I_JUMP",
    "Actions: I_TURN_LEFT I_WALK\nI_JUMP I_JUMP\nThat is the whole sequence.",
    "The sequence:\n1. I_TURN_LEFT\n2. I_WALK\n3. I_JUMP\n4. I_JUMP",
    "Actions: I_TURN_LEFT I_WALK I_JUMP I_JUMP\n\nNumber of actions: 4",
    "Actions: I_TURN_LEFT I_WALK I_JUMP I_JUMP\n\nThese actions: turn left, walk, jump twice.",
    "**Actions:** I_TURN_LEFT I_WALK I_JUMP I_JUMP",
])
def test_scan_replies(reply):
    assert graded("scan", reply, "I_TURN_LEFT I_WALK I_JUMP I_JUMP") == 1.0


@pytest.mark.parametrize("reply, letter", [
    ("Answer: C\n\nAnswer E is incorrect because it is too far.", "C"),
    ("Answer: A\n\nAnswer choice B is wrong.", "A"),
    ("The answer is C. Answer D is a distractor.", "C"),
    ("A bank keeps money safe; answer D (mall) is less secure.\nAnswer: A", "A"),
    ("**B**", "B"),
    ("**B. library**", "B"),
    ("B is the correct answer.", "B"),
    ("C because people keep money there.", "C"),
    ("The answer is b.", "B"),
    ("b", "B"),
    ("**Answer**: C", "C"),
])
def test_csqa_replies(reply, letter):
    assert get_task("csqa").parse(reply) == letter


def test_csqa_an_article_is_no_choice():
    assert get_task("csqa").parse("A person who runs a bank would keep it there.") is None
    assert get_task("csqa").parse("Because it is safe.") is None


@pytest.mark.parametrize("reply", [
    "So, the answer is \\boxed{Miquette Giraudy}.",
    "Answer: Miquette Giraudy [3]",
    "Answer: Miquette Giraudy [1, 3].",
    "Answer: Miquette Giraudy (paragraph 2)",
    "Answer: \\text{Miquette Giraudy}",
    "Answer: Miquette Giraudy\n\nThe answer is based on paragraphs [1] and [3].",
])
def test_musique_replies(reply):
    assert graded("musique", reply, "Miquette Giraudy") == 1.0


@pytest.mark.parametrize("reply, gold, score", [
    (r"\boxed{\text{No, there is no such } n}", "No", 1.0),
    ("Answer: No, it is impossible.", "No", 1.0),
    ("No, because $n^2+1$ is odd.", "No", 1.0),
    ("No, because $n^2+1$ is odd.", "Yes", 0.0),
])
def test_champ_a_verdict_with_its_reason(reply, gold, score):
    assert graded("champ", reply, gold) == score


def test_a_remark_on_the_answer_is_not_the_answer_but_a_correction_is():
    assert answer_after_marker("Answer: Paris\n\nThe answer is based on paragraphs [1] and [3].") == "Paris"
    assert answer_after_marker("**Final answer:** 7\nso the answer is 8 (corrected)") == "8 (corrected)"
    assert answer_after_marker("Answer: right") == "right"  # after 'Answer:' a word is the answer
    assert answer_after_marker("The answer is: 5") == "5"


def test_unfenced_code_with_prose_around_it():
    code = "def truncate_number(number: float) -> float:\n    return number % 1.0"
    assert extract_code(f"Here is the completed function:\n\n{code}") == code
    assert extract_code(f"{code}\n\nThis returns the fractional part.") == code
    assert extract_code("    return number % 1.0") == "    return number % 1.0"  # a body alone is kept whole
    assert math_equal("0.5", r"\frac{1}{2}")


@pytest.mark.parametrize("reply", [
    "Here are the subtasks:\n1. How many pens are in 3 packs?\n2. What is #1 minus 9?",
    "1) How many pens are in 3 packs?\n2) What is #1 minus 9?",
    "Step 1: How many pens are in 3 packs?\nStep 2: What is #1 minus 9?",
    "**1.** How many pens are in 3 packs?\n**2.** What is #1 minus 9?",
    "**Step 1:** How many pens are in 3 packs?\n**Step 2:** What is #1 minus 9?\n\nThese two steps answer it.",
])
def test_a_teachers_plan_as_chat_models_number_it(reply):
    from r2_pipeline.tasks.benchmark import parse_plan

    assert parse_plan(reply) == ["How many pens are in 3 packs?", "What is #1 minus 9?"]
