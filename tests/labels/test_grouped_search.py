"""The grouped search: cheapest verified member, starting where the difficulty bucket says."""

import math

import pytest

from r2_pipeline.labels.grouped_search import SearchItem, grouped_search, start_tier
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.reasoning.execute import answer_confidence
from r2_pipeline.tasks import micro

LADDER = ["t1", "t2", "t3", "t4", "t5"]


def item(expr: str) -> SearchItem:
    return SearchItem(expr, micro.member_prompt(expr), micro.parse_expression(expr).value)


def search(pool, items, starts=(0, 2, 4)):
    return grouped_search(pool, LADDER, items, micro.parse_member_answer, SamplingParams(max_new_tokens=4),
                          baseline="t3", alpha=0.1, thresholds=(0.95, 0.5), starts=starts)


def test_returns_the_cheapest_correct_member(ladder_pool):
    items = [item("3 + 4"), item("12 + 7"), item("12 * 7"), item("123 + 4"), item("123 * 7")]
    search(ladder_pool, items)
    assert [LADDER[i.label] for i in items] == ["t1", "t2", "t3", "t4", "t5"]
    assert not any(i.unsolved for i in items)


def test_respects_the_bucket_start(ladder_pool):
    easy, hard = item("12 + 7"), item("123 + 4")  # t3 is sure of the first, unsure of the second
    attempts = search(ladder_pool, [easy, hard], starts=(2, 2, 3))
    assert easy.start == 2 and hard.start == 3
    tried = {(a["subtask_key"], a["member"]) for a in attempts}
    # the easy one starts at t3 and goes down (t3 ok, t2 ok, t1 fails); the hard one starts at t4,
    # which is right, so it looks one cheaper (t3 fails) and never asks t5
    assert {("12 + 7", m) for m in ("t3", "t2", "t1")} <= tried and ("12 + 7", "t4") not in tried
    assert {("123 + 4", "t4"), ("123 + 4", "t3")} <= tried and ("123 + 4", "t5") not in tried
    assert LADDER[easy.label] == "t2" and LADDER[hard.label] == "t4"


def test_upward_search_stops_at_the_first_verified(ladder_pool):
    mid = item("12 * 7")  # bucket 3: t1 and t2 fail, t3 is right
    attempts = search(ladder_pool, [mid], starts=(0, 0, 0))
    assert [a["member"] for a in attempts if a["subtask_key"] == "12 * 7"] == ["t1", "t2", "t3"]
    assert LADDER[mid.label] == "t3"


def test_upward_search_records_unsolved_at_top(ladder_pool):
    ladder_pool.backends["t5"].skill = 4  # nobody can do bucket 5 now
    hard = item("123 * 7")
    attempts = search(ladder_pool, [hard])
    assert hard.unsolved and LADDER[hard.label] == "t5"
    assert all(not a["correct"] for a in attempts if a["subtask_key"] == "123 * 7")


def test_attempt_rows_carry_text_tokens_and_cost(ladder_pool):
    attempts = search(ladder_pool, [item("3 + 4")])
    row = attempts[0]
    assert {"prompt", "member", "text", "answer", "gold", "correct", "prompt_tokens", "completion_tokens", "cost_usd"} <= set(row)
    assert row["cost_usd"] > 0
    assert row["gold"] == "7" and row["review"] is None  # micro: checked against the exact value, no reviewer


def test_every_paid_call_is_one_row_and_the_baseline_is_asked_once(ladder_pool):
    """The baseline answers every subtask for its bucket; that answer is its attempt when the search
    reaches it (not asked again), and its own row, outside the search, when the search does not."""
    items = [item("3 + 4"), item("12 + 7"), item("12 * 7"), item("123 + 4"), item("123 * 7")]
    attempts = search(ladder_pool, items, starts=(0, 2, 4))  # sure -> t1, unsure -> t5
    assert len(ladder_pool.backends["t3"].calls) == len(items)
    assert sum(len(b.calls) for b in ladder_pool.backends.values()) == len(attempts)
    assert len({(a["subtask_key"], a["member"]) for a in attempts}) == len(attempts)
    assert sum(a["cost_usd"] for a in attempts) == pytest.approx(ladder_pool.ledger.cost(ladder_pool.prices))
    outside = [(a["subtask_key"], a["correct"]) for a in attempts if not a["searched"]]
    # t3 is sure of buckets 1-3, which start at t1: 3 + 4 stops there, 12 + 7 at t2, and 12 * 7 climbs to
    # t3 (its probe answer); 123 + 4 starts at t5 and goes down to t3 (the probe again, wrong), 123 * 7
    # stops at t5 when t4 fails
    assert outside == [("3 + 4", True), ("12 + 7", True), ("123 * 7", False)]
    assert [a["member"] for a in attempts if a["subtask_key"] == "123 + 4"] == ["t5", "t4", "t3"]
    assert [LADDER[i.label] for i in items] == ["t1", "t2", "t3", "t4", "t5"]


def test_answer_confidence_and_start_tier():
    assert answer_confidence([0.0, 0.0], 0.1) == 1.0
    assert answer_confidence([], 0.1) == 0.0
    assert answer_confidence(None) == 0.0
    lps = [math.log(p) for p in (0.9, 0.2, 0.6, 0.8, 0.99)]
    assert answer_confidence(lps) == pytest.approx(0.2)  # alpha 0: the lowest token probability
    assert answer_confidence(lps, 0.5) == pytest.approx(0.8)  # the median
    assert answer_confidence(lps, 0.25) == pytest.approx(0.6)
    assert answer_confidence([0.0, float("nan")]) == 0.0  # a NaN from a server is not a sure answer
    assert start_tier(0.99, (0.95, 0.5), (0, 2, 4)) == 0
    assert start_tier(0.6, (0.95, 0.5), (0, 2, 4)) == 2
    assert start_tier(0.1, (0.95, 0.5), (0, 2, 4)) == 4


def test_a_baseline_without_log_probabilities_is_refused(ladder_pool, blind):
    """A server that ignores the request for log-probabilities would put every subtask in the hard
    bucket, silently; the search stops instead and names the member."""
    ladder_pool.backends["t3"] = blind
    with pytest.raises(ValueError, match="baseline member 't3' sent no token log-probabilities for 1 of 1"):
        search(ladder_pool, [item("3 + 4")])


def search_tries(pool, items, tries, accept_share):
    return grouped_search(pool, ["t1", "t2", "t3"], items, micro.parse_member_answer,
                          SamplingParams(max_new_tokens=4, seed=2000), baseline="t2", alpha=0.1,
                          thresholds=(0.95, 0.5), starts=(0, 1, 2), tries=tries, accept_share=accept_share)


def easy_items():
    return [item(f"{a} + {b}") for a in range(1, 10) for b in range(1, 10)]  # 81 bucket-1 steps


def test_several_tries_label_the_cheapest_member_that_usually_answers(chance_pool):
    """t1 answers an easy step 30% of the time, t2 always. One try labels t1 wherever its one answer
    was lucky; with five tries a member is accepted only where at least `accept_share` of its
    answers are right, and every try is a paid call of its own row."""
    pool = chance_pool({"t1": {1: 0.3}, "t2": {1: 1.0}, "t3": {1: 1.0}})
    once = easy_items()
    search_tries(pool, once, 1, 0.5)
    pool.ledger = type(pool.ledger)()
    items = easy_items()
    attempts = search_tries(pool, items, 5, 0.8)
    assert sum(pool.ledger.calls.values()) == len(attempts)  # the probe is t2's try 0, not asked again
    rows: dict = {}
    for a in attempts:
        if a["searched"]:  # t2's probe of a step the search settled at t1 is a row outside it
            rows.setdefault((a["subtask_key"], a["member"]), []).append(a)
    assert all(sorted(r["try_index"] for r in group) == [0, 1, 2, 3, 4] for group in rows.values())
    for it in items:
        share = {m: sum(r["correct"] for r in rows[(it.key, m)]) / 5 for m in ("t1", "t2", "t3")
                 if (it.key, m) in rows}
        label = ["t1", "t2", "t3"][it.label]
        assert share[label] >= 0.8 and all(s < 0.8 for m, s in share.items() if m < label)
    lucky = sum(i.label == 0 for i in once)
    assert 10 < lucky and sum(i.label == 0 for i in items) < lucky / 3


def test_one_try_is_the_papers_search(chance_pool):
    """`tries: 1` asks every member once, whatever `accept_share` says: the labels and rows of the
    default search."""
    pool = chance_pool({"t1": {1: 0.3}, "t2": {1: 1.0}, "t3": {1: 1.0}})
    default, strict = easy_items(), easy_items()
    rows = grouped_search(pool, ["t1", "t2", "t3"], default, micro.parse_member_answer,
                          SamplingParams(max_new_tokens=4, seed=2000), baseline="t2", alpha=0.1,
                          thresholds=(0.95, 0.5), starts=(0, 1, 2))
    assert rows == search_tries(pool, strict, 1, 1.0)
    assert [i.label for i in default] == [i.label for i in strict]
    assert {r["try_index"] for r in rows} == {0}


@pytest.mark.parametrize("tries, share", [(0, 0.5), (3, 0.0), (3, 1.5)])
def test_bad_tries_are_refused(ladder_pool, tries, share):
    with pytest.raises(ValueError, match="tries must be >= 1 and accept_share within"):
        search_tries(ladder_pool, [item("3 + 4")], tries, share)
