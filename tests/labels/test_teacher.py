"""The paper-profile teacher and reviewer: plan parsing, few-shot prompts, distinct candidates,
verdicts, and the grouped search verified by a reviewer instead of an exact value."""

import pytest

from r2_pipeline.labels.grouped_search import SearchItem, grouped_search
from r2_pipeline.labels.teacher import parse_verdict, propose, review, teacher_prompt
from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.tasks.base import Example, get_task
from r2_pipeline.tasks.benchmark import parse_plan


class Scripted:
    """Replies from a function of (prompt, seed); records every prompt."""

    def __init__(self, reply, name="scripted"):
        self.reply, self.fingerprint, self.calls = reply, name, []

    def generate(self, prompts, sampling):
        self.calls += prompts
        return [Completion(self.reply(p, sampling.seed), len(p.split()), 3, [0.0]) for p in prompts]


def pool_of(**members):
    prices = {n: {"input_per_m": float(k + 1), "output_per_m": float(k + 1), "date": "d", "source": "s"}
              for k, n in enumerate(members)}
    return ModelPool(members, PriceTable.from_config(prices))


@pytest.mark.parametrize(("text", "plan"), [
    ("1. find a\n2. use #1", ["find a", "use #1"]),
    ("  1) find a\n\n2) use #1\nProblem:\nnext one\n1. x", ["find a", "use #1"]),  # stops at the list's end
    ("1. only\n3. skipped a number", ["only"]),
    ("Sure! 1. inline", None),
    ("Here are the subtasks:\n1. find a\n2. use #1", ["find a", "use #1"]),  # a chat model's lead-in
    ("", None),
])
def test_parse_plan(text, plan):
    assert parse_plan(text) == plan


def test_teacher_prompt_shows_the_worked_decompositions_then_the_question():
    shots = get_task("gsm8k").worked_decompositions[:2]
    prompt = teacher_prompt("How many apples?", shots)
    assert prompt.index(shots[0][0]) < prompt.index(shots[1][0]) < prompt.index("How many apples?")
    assert "1. " + shots[1][1][0] in prompt and prompt.endswith("Subtasks:\n")


def test_every_benchmark_with_a_training_split_has_worked_decompositions():
    for name in ("gsm8k", "math", "scan", "csqa", "musique"):
        shots = get_task(name).worked_decompositions
        assert len(shots) >= 3 and all(q and len(s) >= 2 for q, s in shots), name


def test_propose_keeps_distinct_parseable_candidates_with_one_seed_per_variant():
    replies = {0: "1. a\n2. b #1", 1: "1. a\n2. b #1", 2: "no plan here"}
    teacher = Scripted(lambda p, seed: replies[seed])
    examples = [Example("q1", "first?", "1"), Example("q2", "second?", "2")]
    rows = propose(pool_of(teacher=teacher), "teacher", examples, [("x?", ["y", "z"])], 3,
                   SamplingParams(temperature=0.7, seed=0))
    assert [(r["index"], r["candidate"], r["subtasks"]) for r in rows] == [(0, 0, ["a", "b #1"]), (1, 0, ["a", "b #1"])]
    assert len(teacher.calls) == 6  # three variants, each one batch of both questions


@pytest.mark.parametrize(("text", "verdict"), [("Yes.", True), ("yes, it is", True), ("No", False),
                                               ("The answer is yes", False), ("", False)])
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) is verdict


def test_review_asks_only_about_parsed_answers():
    reviewer = Scripted(lambda p, seed: "yes" if "answer to the subtask: 4" in p else "no")
    verdicts = review(pool_of(judge=reviewer), "judge", SamplingParams(),
                      [("q", "2+2?", "4"), ("q", "2+2?", "5"), ("q", "2+2?", None)])
    assert [v.ok for v in verdicts] == [True, False, False] and len(reviewer.calls) == 2
    assert [v.reply for v in verdicts] == ["yes", "no", None]  # kept for the outcome table; None: never asked


def test_grouped_search_verified_by_a_reviewer():
    """Members answer a subtask; only the dearest is right. The reviewer, not a gold value, decides."""
    small = Scripted(lambda p, seed: "Answer: 5")
    big = Scripted(lambda p, seed: "Answer: 4")
    judge = Scripted(lambda p, seed: "yes" if "answer to the subtask: 4" in p else "no")
    pool = pool_of(small=small, big=big, judge=judge)
    items = [SearchItem("q/0", "What is 2+2?", None, question="q", subtask="What is 2+2?")]

    def verify(group, answers):
        return review(pool, "judge", SamplingParams(), [(i.question, i.subtask, a) for i, a in zip(group, answers)])

    attempts = grouped_search(pool, ["small", "big"], items, lambda prompt, text: text.split(": ")[-1],
                              SamplingParams(), "small", 0.1, [0.95], [0, 0], verify=verify)
    assert items[0].label == 1 and not items[0].unsolved
    assert [(a["member"], a["correct"], a["review"]) for a in attempts] == [("small", False, "no"), ("big", True, "yes")]
    assert [a["gold"] for a in attempts] == [None, None]  # no exact value: missing, not the text "None"


def test_reviewed_allocator_env_rewards_the_reviewers_verdict():
    """Benchmark allocator phase: the sampled member answers the subtask in context; the reviewer's
    verdict is the correctness; a name outside the pool is a format failure, never run."""
    from r2_pipeline.rl.rewards import ReviewedAllocatorEnv

    task = get_task("gsm8k")
    small = Scripted(lambda p, seed: "Answer: 5")
    big = Scripted(lambda p, seed: "Answer: 4")
    judge = Scripted(lambda p, seed: "yes" if "answer to the subtask: 4" in p else "no")
    pool = pool_of(small=small, big=big, judge=judge)
    gold = {"P": (task, "What is 2+2?", [("first step", "2")], "Add 2 to #1.", 2)}

    def verify(items):
        return review(pool, "judge", SamplingParams(), items)

    env = ReviewedAllocatorEnv(pool, gold, largest="big", sampling=SamplingParams(), verify=verify)
    out = env.outcomes(["P", "P", "P"], ["small", "big", "huge"])
    assert [(o.parsed, o.correct) for o in out] == [(True, False), (True, True), (False, False)]
    assert "first step -> 2" in small.calls[0] and "Add 2 to #1." in small.calls[0]  # the step in context
    assert out[1].cost_largest == pytest.approx(2 * out[1].cost)  # two steps in the plan, priced as big


def test_endpoint_candidates_are_scored_on_their_own_rows():
    """The teacher's candidates come variant by variant (q1, q2, q1, q2): each row's scores must be
    its own, and each question gets one chosen plan among its own verified ones."""
    import json

    import pandas as pd

    from r2_pipeline.pipelines.data_generation.nodes import _choose

    frame = pd.DataFrame({
        "benchmark": "gsm8k", "id": ["q1", "q2", "q1", "q2"],
        "subtasks": [json.dumps(["a"]), json.dumps(["a", "b #1", "c #2"]), json.dumps(["a", "b"]), json.dumps(["a"])],
        "tokens": [10, 30, 20, 10], "verified": [True, True, True, False],
    })
    spec = {"weights": {"conciseness": 1.0, "practicality": 0.0, "coherence": 0.0}, "require_verified": True,
            "evaluation_member": "m"}
    out = _choose(frame, spec)
    # conciseness is 1 - (steps - 1) / most steps among the question's own candidates
    assert list(out["conciseness"]) == pytest.approx([1.0, 1 - 2 / 3, 0.5, 1.0])
    assert list(out["chosen"]) == [True, True, False, False]  # q2's concise plan is not verified
