"""The micro world: generator, buckets, decompositions, the member answer format."""

import json
import random

import pytest

from r2_pipeline.pipelines.data_generation.nodes import generate_world
from r2_pipeline.tasks import micro

WORLD = {
    "world": {
        "seed": 3,
        "sizes": {"train": 80, "validation": 20, "test": 20},
        "min_steps": 2,
        "max_steps": 6,
        "bucket_weights": [0.3, 0.25, 0.2, 0.15, 0.1],
    }
}


def test_same_seed_same_world():
    a, b = generate_world(WORLD), generate_world(WORLD)
    for x, y in zip(a, b):
        assert x.equals(y)


def test_splits_are_disjoint_and_sized():
    train, val, test = generate_world(WORLD)
    assert (len(train), len(val), len(test)) == (80, 20, 20)
    questions = [set(s["question"]) for s in (train, val, test)]
    assert not questions[0] & questions[1] and not questions[0] & questions[2] and not questions[1] & questions[2]


def test_dedup_by_problem_keeps_reworded_problems_out_of_other_splits():
    """By text, a 2-step problem can come back under other wording; `dedup: problem` keys on the
    reference subtasks instead, so no split shares a problem with another."""
    world = {"world": {**WORLD["world"], "sizes": {"train": 400, "validation": 50, "test": 100},
                       "min_steps": 2, "max_steps": 2, "bucket_weights": [1, 0, 0, 0, 0]}}
    train, _, test = generate_world(world)
    assert set(train["subtasks"]) & set(test["subtasks"])  # the default lets some through
    train, val, test = generate_world({"world": {**world["world"], "dedup": "problem"}})
    problems = [list(s["subtasks"]) for s in (train, val, test)]
    assert sum(map(len, problems)) == len(set().union(*problems)) == 550


def test_a_world_larger_than_its_problem_space_is_refused(monkeypatch):
    from r2_pipeline.pipelines.data_generation import nodes

    monkeypatch.setattr(nodes, "MAX_REPEATS", 2000)
    world = {"world": {**WORLD["world"], "sizes": {"train": 5000, "validation": 1, "test": 1},
                       "min_steps": 2, "max_steps": 2, "bucket_weights": [1, 0, 0, 0, 0], "dedup": "problem"}}
    with pytest.raises(ValueError, match=r"ran out of distinct problems after \d+ of 5002: 2000 draws in a row"):
        generate_world(world)


def test_extra_training_questions_leave_validation_and_test_unchanged():
    base = generate_world(WORLD)
    grown = generate_world({"world": {**WORLD["world"], "extra_train": 30}})
    assert len(grown[0]) == 110 and grown[0].head(80).equals(base[0])
    assert grown[1].equals(base[1]) and grown[2].equals(base[2])
    assert grown[0]["id"].is_unique and not set(grown[0]["question"]) & set(grown[2]["question"])


def test_reference_decompositions_evaluate_to_gold():
    rng = random.Random(0)
    for _ in range(300):
        problem = micro.sample_problem(rng, 2, 6, [0.2] * 5)
        assert 2 <= len(problem.steps) <= 6
        values = micro.evaluate_subtasks(micro.parse_decomposition(micro.format_decomposition(problem.subtasks)))
        assert values[-1] == problem.answer
        assert all(1 <= v <= micro.MAX_VALUE for v in values)


def test_questions_are_worded_not_expressions():
    problem = micro.sample_problem(random.Random(1), 3, 3, [0.2] * 5)
    assert "?" in problem.question and "#" not in problem.question
    assert len(problem.question.split()) > 10


@pytest.mark.parametrize(
    ("left", "op", "right", "bucket"),
    [(3, "*", 4, 1), (9, "/", 3, 1), (12, "+", 7, 2), (45, "-", 23, 2), (12, "*", 7, 3), (84, "/", 4, 3),
     (123, "+", 4, 4), (999, "-", 998, 4), (123, "*", 7, 5), (7, "*", 123, 5), (868, "/", 4, 5)],
)
def test_step_bucket(left, op, right, bucket):
    assert micro.step_bucket(left, op, right) == bucket


def test_bucket_sampler_hits_its_bucket():
    rng = random.Random(0)
    for bucket in micro.BUCKETS:
        for _ in range(50):
            assert micro.sample_bucket_step(bucket, rng).bucket == bucket


@pytest.mark.parametrize(
    ("prompt", "text", "value"),
    [
        ("432*002=", "468", 864),       # least-significant digit first
        ("432/006=", "072", 72),        # division most-significant first
        ("004+005=", "900<eos>", 9),    # trailing text is ignored
        ("432*002=", "864", 468),       # a wrong (unreversed) answer parses to a wrong value
        ("432*002=", "46", None),       # too short
        ("432*002=", "4a8", None),      # malformed
        ("432*002=", "", None),         # empty
        ("480/005=", "0961", 961),      # every digit written counts: not 96
        ("016+080=", "6901", 1096),     # least-significant first: a fourth digit is the thousands
        ("477+217=", "1110", 111),      # a leading zero changes nothing
    ],
)
def test_parse_member_answer(prompt, text, value):
    assert micro.parse_member_answer(prompt, text) == value


def test_member_format_round_trip():
    rng = random.Random(5)
    for bucket in micro.BUCKETS:
        step = micro.sample_bucket_step(bucket, rng)
        prompt = micro.member_prompt(f"{step.left} {step.op} {step.right}")
        assert len(prompt) == 2 * micro.WIDTH + 2
        assert micro.parse_member_answer(prompt, micro.member_answer(step)) == step.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. 4 + 5\n2. #1 * 3", ["4 + 5", "#1 * 3"]),
        ("1. 4 + 5\n\n2. #1 * 3\n", ["4 + 5", "#1 * 3"]),
        ("2. 4 + 5", None),
        ("", None),
        ("4 + 5", None),
    ],
)
def test_parse_decomposition(text, expected):
    assert micro.parse_decomposition(text) == expected


QUESTION = "Ana has 4 books. Then 57 more arrive. Next, 57 are lost. Later, she gets 4 more."


@pytest.mark.parametrize(
    ("subtasks", "cited"),
    [
        (["4 + 57", "#1 - 57", "#2 + 4"], ["$1 + $2", "#1 - $3", "#2 + $4"]),  # repeats cite in order
        (["(4 + 57) - 57", "#1 + 4"], ["($1 + $2) - $3", "#1 + $4"]),  # a merged step
        (["4 + 50", "#1 + 7"], ["$1 + 50", "#1 + 7"]),  # numbers the question lacks stay literal
        (["#1 + 4"], ["#1 + $1"]),  # `#k` is never read as a quantity
    ],
)
def test_plans_cite_question_quantities(subtasks, cited):
    assert micro.cite_quantities(subtasks, QUESTION) == cited
    assert micro.resolve_quantities(cited, QUESTION) == subtasks


def test_plan_text_round_trip_and_bad_citations():
    from r2_pipeline.tasks.micro.task import TASK

    world = generate_world(WORLD)[0]
    for question, subtasks in zip(world["question"], world["subtasks"]):
        plan = list(json.loads(subtasks)) if isinstance(subtasks, str) else list(subtasks)
        assert TASK.parse_plan(TASK.format_plan(plan, question), question) == plan
    assert TASK.parse_plan("1. $1 + $5", QUESTION) is None  # the question has four numbers
    assert TASK.parse_plan("1. $1 + $2", QUESTION) == ["4 + 57"]
    assert TASK.parse_plan("1. $1 + $2") == ["$1 + $2"]  # without the question nothing is resolved


def test_substitute_earlier_answers():
    assert micro.substitute("#2 - 7", [10, 30]) == "30 - 7"
    assert micro.substitute("#3 - 7", [10, 30]) is None
    assert micro.substitute("#1 + 1", [None]) is None


@pytest.mark.parametrize(("text", "value"), [("The answer is 42.", 42), ("12 then 7", 7), ("none", None), ("", None)])
def test_parse_final_answer(text, value):
    assert micro.parse_final_answer(text) == value


def test_a_split_table_without_answers_is_refused():
    import pandas as pd

    from r2_pipeline.tasks.base import get_task

    with pytest.raises(ValueError, match=r"missing \['answer'\]"):
        get_task("micro").load(pd.DataFrame({"id": ["micro-0"], "question": ["What is 1 + 1?"]}))


# ---------------------------------------------------------------- compound subtasks


def test_a_compound_parses_prompts_and_answers_like_a_step():
    compound = micro.parse_compound("(85 + 40) - 17")
    assert compound.value == 108 and compound.bucket == 7  # its intermediate 125 has three digits
    assert micro.parse_compound("(8 + 4) - 7").bucket == 6
    assert micro.member_prompt("(85 + 4) - 17") == "085+004-017="
    assert micro.parse_member_answer("085+004-017=", micro.member_answer(micro.parse_compound("(85 + 4) - 17"))) == 72
    assert micro.parse_subtask("85 + 4") == micro.Step(85, "+", 4)
    assert micro.parse_compound("85 + 4") is None and micro.parse_compound("(#1 + 4) - 2") is None


def test_a_compounds_answer_shows_its_working_and_is_read_after_it():
    compound = micro.parse_compound("(85 + 40) - 17")
    assert micro.member_answer(compound, working=True) == "521=801"  # 125, then 108, least-significant first
    assert micro.member_answer(compound) == "801"  # conf/base: the result alone
    assert micro.member_answer(micro.parse_subtask("85 + 40")) == "521"  # a single step has nothing to show
    prompt = micro.member_prompt(compound.text)
    assert micro.parse_member_answer(prompt, "521=801") == 108
    assert micro.parse_member_answer(prompt, "521=801<eos>") == 108
    assert micro.parse_member_answer(prompt, "531=801") == 108  # only the result is graded
    assert micro.parse_member_answer(prompt, "801") == 108  # a pool trained without working
    assert micro.parse_member_answer(prompt, "521=80") is None  # a result too short
    assert micro.parse_member_answer(prompt, "521=") is None
    # a single step's answer is the digits it opens with, whatever follows
    assert micro.parse_member_answer("085+040=", "521=801") == 125
    # the working fits a member's answer budget with its end token
    assert len(micro.member_answer(micro.parse_compound("(850 + 40) - 17"), working=True)) + 1 <= micro.ANSWER_TOKENS


def test_plans_with_compounds_evaluate_and_only_additive_ones_are_askable():
    assert micro.evaluate_subtasks(["(12 + 5) - 3", "#1 * 2"]) == [14, 28]
    assert micro.askable(["(12 + 5) - 3", "#1 * 2"])
    assert not micro.askable(["(6 / 3) + 8"])  # a compound the members are never taught
    assert not micro.askable(["12 +"])


def test_merge_groupings_merge_only_adjacent_additive_steps():
    steps = [micro.Step(5, "+", 3), micro.Step(8, "-", 2), micro.Step(6, "*", 4), micro.Step(24, "+", 10),
             micro.Step(34, "-", 5)]
    groupings = micro.merge_groupings(steps)
    assert groupings[0] == ((0,), (1,), (2,), (3,), (4,)) and len(groupings) == 4
    for grouping in groupings:  # every plan reaches the same answer
        assert micro.evaluate_subtasks(micro.plan_from_groups(steps, grouping))[-1] == 29
    assert micro.plan_from_groups(steps, ((0, 1), (2,), (3, 4))) == ["(5 + 3) - 2", "#1 * 4", "(#2 + 10) - 5"]


def test_sampled_compounds_land_in_their_bucket_and_train_the_pool():
    import random

    from r2_pipeline.training.ladder import step_pairs

    rng = random.Random(0)
    for bucket in micro.COMPOUND_BUCKETS:
        for _ in range(50):
            compound = micro.sample_compound(bucket, rng)
            assert compound.bucket == bucket and micro.mergeable(*compound.steps)
            assert 1 <= compound.value <= micro.MAX_VALUE
    pairs = step_pairs([1, 6], 200, seed=0)
    assert {len(p) for p, _ in pairs} == {8, 12}
    assert {len(a) for p, a in pairs if len(p) == 12} == {3}
    assert {len(a) for _, a in step_pairs([6], 50, seed=0, working=True)} == {7}  # a compound shows its working
    for prompt, answer in pairs:
        assert micro.parse_member_answer(prompt, answer) is not None
