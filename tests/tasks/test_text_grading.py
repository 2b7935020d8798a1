"""SCAN, CSQA and MuSiQue graders, table-driven: a model's reply in, the score out."""

from __future__ import annotations

import pytest

from r2_pipeline.tasks.base import Example, get_task


def score(name: str, reply: str, answer: str, **meta) -> float:
    task = get_task(name)
    return task.grade(task.parse(reply), Example("x", "q", answer, meta))


ACTIONS = "I_RUN I_TURN_LEFT I_LOOK"
SCAN_TABLE = [
    ("Actions: I_RUN I_TURN_LEFT I_LOOK", 1.0),
    ("Run first, then turn left and look.\nActions: I_RUN  I_TURN_LEFT I_LOOK.", 1.0),
    ("actions: run turn_left look", 1.0),
    ("I_RUN I_TURN_LEFT I_LOOK", 1.0),
    ("Actions: I_RUN I_LOOK I_TURN_LEFT", 0.0),
    ("Actions: I_RUN I_TURN_LEFT I_LOOK I_LOOK", 0.0),
    ("Actions:", 0.0),
    ("Actions:\nI_RUN I_TURN_LEFT I_LOOK", 1.0),  # the answer on the line after the marker
    ("Actions: I_RUN I_TURN_LEFT I_LOOK  # run, turn left, look", 1.0),  # a comment's words are not actions
    ("Actions: I_RUN I_TURN_LEFT I_LOOK (then walk)", 1.0),
    ("Actions: I_RUN I_FLY I_TURN_LEFT I_LOOK", 0.0),  # a name outside the grammar is not dropped
    ("Actions:\n```\nI_RUN I_TURN_LEFT I_LOOK\n```", 1.0),  # fences are not lines
    ("```\nI_RUN I_TURN_LEFT I_LOOK\n```", 1.0),
    ("```I_RUN I_TURN_LEFT I_LOOK```", 1.0),  # one fenced line
    ("```\nI_RUN I_TURN_LEFT I_LOOK\n```\nThat is the sequence.", 1.0),
    ("Actions: `I_RUN I_TURN_LEFT I_LOOK`", 1.0),
    ("```text\nActions: I_RUN I_TURN_LEFT I_LOOK\n```\nThat is the sequence.", 1.0),
    ("I cannot do that.", 0.0),
    ("", 0.0),
]


@pytest.mark.parametrize(("reply", "expected"), SCAN_TABLE)
def test_scan(reply, expected):
    assert score("scan", reply, ACTIONS) == expected


def test_scan_samples_grade_their_own_actions():
    task = get_task("scan")
    for example in task.load("offline"):
        assert task.grade(task.parse(f"Actions: {example.answer}"), example) == 1.0


CSQA_TABLE = [
    ("Answer: A", 1.0),
    ("**Answer:** A", 1.0),
    ("The answer is (A) bank.", 1.0),
    ("A", 1.0),
    ("A. bank", 1.0),
    ("Answer: B", 0.0),
    ("The answer is a bank", 0.0),  # a lower-case article is not a choice
    ("Answer: A cupboard or shelf", 0.0),  # nor is a capital one before a word: a free answer
    ("A person who has run a marathon is tired.", 0.0),
    ("Answer: (A) bank", 1.0),
    ("Answer: F", 0.0),
    ("", 0.0),
]


@pytest.mark.parametrize(("reply", "expected"), CSQA_TABLE)
def test_csqa(reply, expected):
    assert score("csqa", reply, "A") == expected


CSQA_B_TABLE = [
    ("Answer: B cupboard", 1.0),  # B-E are no articles: the letter, then the choice's text
    ("Answer: b", 1.0),
    ("the answer: (b).", 1.0),
    ("So the plate goes away.\n\\boxed{B}", 1.0),
    ("\\boxed{\\text{B}}", 1.0),
    ("Answer: b cupboard", 0.0),  # lower case before a word: an article-like free answer
    ("Answer: A\nOn reflection, Answer: B", 1.0),  # the last marked letter
    ("Answer: B\nOn reflection, \\boxed{A}", 0.0),
    ("Answer: C cupboard", 0.0),
    ("Answer: Option B", 1.0),
    ("The answer is choice B.", 1.0),
    ('Answer: "B"', 1.0),
    ("Answer: [B]", 1.0),
    ("Answer: \\( B \\)", 1.0),
    ("Answers: B", 1.0),
    ("Answer: b) cupboard", 1.0),
    ("Answer: b. cupboard", 1.0),
    ("\\boxed{\\textbf{B}}", 1.0),
    ("\\boxed{B. cupboard}", 1.0),
    ("\\boxed{\\text{(B) cupboard}}", 1.0),
    ("answer: e.g. the cupboard", 0.0),  # 'e.g.' is no choice E, nor any
]


@pytest.mark.parametrize(("reply", "expected"), CSQA_B_TABLE)
def test_csqa_choice_b(reply, expected):
    assert score("csqa", reply, "B") == expected


MUSIQUE_TABLE = [
    # (reply, F1, EM)
    ("Steve Hillage performed Green; his partner is ...\nAnswer: Miquette Giraudy", 1.0, 1.0),
    ("Answer: miquette giraudy.", 1.0, 1.0),
    ("Miquette Giraudy", 1.0, 1.0),
    ("Answer: Giraudy", 2 / 3, 0.0),
    ("Answer: Steve Hillage", 0.0, 0.0),
    ("", 0.0, 0.0),
]


@pytest.mark.parametrize(("reply", "f1", "em"), MUSIQUE_TABLE)
def test_musique(reply, f1, em):
    task = get_task("musique")
    example = Example("x", "q", "Miquette Giraudy", {"aliases": []})
    prediction = task.parse(reply)
    assert task.grade(prediction, example) == pytest.approx(f1)
    assert task.exact_match(prediction, example) == em


def test_musique_accepts_aliases():
    task = get_task("musique")
    example = task.load("offline")[3]
    assert task.grade(task.parse("Answer: AUD"), example) == 1.0
    assert task.exact_match(task.parse("Answer: Australian dollars"), example) == 1.0
