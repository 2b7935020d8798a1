"""The routed reasoner: allocator validation and fallback, context substitution, batching."""

import math

import pytest

from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.reasoning.execute import execute, final_value
from r2_pipeline.reasoning.router import (
    RouterUsage,
    allocator_rule,
    cheapest_likely,
    decompose,
    member_probabilities,
    trust_or_escalate,
    validate_member,
)
from r2_pipeline.rl.rewards import DecomposerEnv
from r2_pipeline.tasks.micro.task import TASK

PRICE = {"input_per_m": 1.0, "output_per_m": 1.0, "date": "d", "source": "s"}


class Scripted:
    """Returns scripted texts by prompt (unit-test fake of a router model)."""

    fingerprint = "scripted"

    def __init__(self, answers):
        self.answers = answers
        self.batches = []

    def generate(self, prompts, sampling):
        self.batches.append(list(prompts))
        return [Completion(self.answers(p), len(p), 2) for p in prompts]


def router(decomposer, allocator):
    return ModelPool({"decomposer": decomposer, "allocator": allocator},
                     PriceTable.from_config({"decomposer": PRICE, "allocator": PRICE}))


def test_validate_member():
    assert validate_member(" t3 ", ["t1", "t3"]) == "t3"
    assert validate_member("t9", ["t1", "t3"]) is None
    assert validate_member("", ["t1"]) is None


def test_invalid_allocation_falls_back_and_is_counted(ladder_pool):
    usage = RouterUsage.empty(2)
    alloc = Scripted(lambda p: "t5" if p.startswith("123") else "nonsense")
    rule = allocator_rule(router(Scripted(lambda p: ""), alloc), TASK, ["q1", "q2"], ladder_pool.members, "t4",
                          SamplingParams(), usage)
    assert rule([0, 1], 0, ["123 + 4", "3 + 4"], [[], []]) == ["t5", "t4"]
    assert usage.invalid_allocations == 1 and usage.allocations == 2 and usage.fallback_counts == {"t4": 1}
    assert usage.prompt_tokens[0] > 0 and usage.cost_usd[1] > 0


def test_a_threshold_refuses_an_allocator_served_without_log_probabilities(ladder_pool):
    """A server that ignores top_logprobs would turn every min_success reading into greedy, under
    the threshold's name."""
    rule = allocator_rule(router(Scripted(lambda p: ""), Scripted(lambda p: "t3")), TASK, ["q"], ladder_pool.members,
                          "t5", SamplingParams(), RouterUsage.empty(1), min_success=0.9)
    with pytest.raises(ValueError, match=r"without top_logprobs, and rule cheapest_likely at min_success 0\.9"):
        rule([0], 0, ["3 + 4"], [[]])


def test_routed_execution_substitutes_earlier_answers_and_batches_by_step(ladder_pool):
    plans = [["3 + 4", "#1 * 6", "#2 - 40"], ["12 + 7", "#1 + 10"]]
    usage = RouterUsage.empty(2)
    alloc = Scripted(lambda p: "t3")
    rule = allocator_rule(router(Scripted(lambda p: ""), alloc), TASK, ["a", "b"], ladder_pool.members, "t5",
                          SamplingParams(), usage)
    traces = execute(ladder_pool, TASK, ["a", "b"], plans, rule, SamplingParams(max_new_tokens=4))
    assert [final_value(t) for t in traces] == [2, 29]
    assert [s.filled for s in traces[0]] == ["3 + 4", "7 * 6", "42 - 40"]
    assert alloc.batches[0] == ["003+004=>", "012+007=>"]  # step 1 of both questions in one batch
    assert ladder_pool.backends["t3"].calls[:2] == ["003+004=", "012+007="]


def test_unparseable_decomposition_yields_no_answer(ladder_pool):
    usage = RouterUsage.empty(2)
    dec = Scripted(lambda p: "1. 3 + 4\n2. #1 * 2" if "good" in p else "I do not know")
    plans, texts = decompose(router(dec, Scripted(lambda p: "t1")), TASK, ["good question", "bad one"],
                             SamplingParams(), usage)
    assert plans == [["3 + 4", "#1 * 2"], None]
    traces = execute(ladder_pool, TASK, ["good question", "bad one"], plans, lambda i, k, f, h: ["t1"] * len(i),
                     SamplingParams(max_new_tokens=4))
    assert final_value(traces[0]) == 14 and final_value(traces[1]) is None


def test_decomposer_citations_resolve_against_each_question(ladder_pool):
    usage = RouterUsage.empty(2)
    dec = Scripted(lambda p: "1. $1 + $2\n2. #1 * $3")
    questions = ["Ana has 3 pens. She gets 4 more. It triples by 2.", "Bo has 12 cards. He gets 7."]
    plans, _ = decompose(router(dec, Scripted(lambda p: "t1")), TASK, questions, SamplingParams(), usage)
    assert plans == [["3 + 4", "#1 * 2"], None]  # the second question has no third number
    assert dec.batches[0][0].startswith("Ana has $1=3 pens. She gets $2=4 more.")


def test_a_step_that_cannot_run_is_not_allocated(ladder_pool):
    usage = RouterUsage.empty(2)
    alloc = Scripted(lambda p: "t3")
    rule = allocator_rule(router(Scripted(lambda p: ""), alloc), TASK, ["a", "b"], ladder_pool.members, "t5",
                          SamplingParams(), usage)
    # step 2 of the first plan refers to a step 3 that does not exist
    traces = execute(ladder_pool, TASK, ["a", "b"], [["3 + 4", "#3 * 6"], ["12 + 7", "#1 + 10"]], rule,
                     SamplingParams(max_new_tokens=4))
    assert [final_value(t) for t in traces] == [None, 29]
    assert [len(b) for b in alloc.batches] == [2, 1] and usage.allocations == 3
    assert traces[0][1].member is None


def test_member_probabilities_from_top_tokens():
    # position 0: "t" is certain; position 1: the digit decides the tier
    top = [{"t": 0.0}, {"3": math.log(0.6), "5": math.log(0.3), "4": math.log(0.1)}]
    probs = member_probabilities(top, ["t1", "t2", "t3", "t4", "t5"])
    assert probs == pytest.approx({"t3": 0.6, "t5": 0.3, "t4": 0.1})
    assert member_probabilities(None, ["t1"]) == {}
    assert member_probabilities([{"x": 0.0}], ["t1"]) == {}


@pytest.mark.parametrize(
    ("min_success", "chosen"),
    [(0.5, "t3"), (0.6, "t3"), (0.65, "t4"), (0.7, "t4"), (0.9, "t5"), (1.0, "t5")],
)
def test_cheapest_likely_member(min_success, chosen):
    probs = {"t3": 0.6, "t4": 0.1, "t5": 0.3}
    assert cheapest_likely(probs, ["t1", "t2", "t3", "t4", "t5"], min_success) == chosen


@pytest.mark.parametrize(
    ("named", "min_success", "chosen"),
    [("t3", 0.5, "t3"), ("t3", 0.6, "t3"), ("t3", 0.65, "t5"), ("t3", 0.7, "t5"), ("t4", 0.7, "t4"),
     ("t4", 0.75, "t5"), ("t5", 1.0, "t5")],
)
def test_trust_or_escalate(named, min_success, chosen):
    """Where cheapest_likely would go one rung up (0.65: t4), escalate goes to the dearest member."""
    probs = {"t3": 0.6, "t4": 0.1, "t5": 0.3}
    assert trust_or_escalate(probs, named, ["t1", "t2", "t3", "t4", "t5"], min_success) == chosen


def test_trust_or_escalate_without_probabilities_keeps_the_named_member():
    assert trust_or_escalate({}, "t2", ["t1", "t2", "t3"], 0.9) == "t2"


def test_member_probabilities_for_names_that_differ_before_their_last_token():
    """Greedy `qwen_7b`, with `3` close behind at the digit: qwen_3b gets that path's probability
    (its `b` taken as certain), not nothing, so `min_success` can act on a paper-size pool."""
    members = ["qwen_0_5b", "qwen_3b", "qwen_7b", "gpt_4o"]
    top = [{"qwen": -0.01, "gpt": math.log(0.01)}, {"_": 0.0}, {"7": math.log(0.5), "3": math.log(0.45),
                                                                 "0": math.log(0.05)}, {"b": 0.0, "_": -9.0}]
    probs = member_probabilities(top, members)
    assert probs["qwen_3b"] / probs["qwen_7b"] == pytest.approx(0.9)
    # `gpt` leads only to gpt_4o; `0` only to qwen_0_5b; the greedy member keeps its own path
    assert set(probs) == {"qwen_3b", "qwen_7b", "qwen_0_5b", "gpt_4o"}
    assert probs["gpt_4o"] == pytest.approx(0.01, rel=1e-3) and probs["qwen_0_5b"] == pytest.approx(0.0495, rel=1e-3)
    ladder = ["qwen_0_5b", "qwen_3b", "qwen_7b", "gpt_4o"]  # cheapest first
    assert cheapest_likely(probs, ladder, 0.49) == "qwen_3b" and cheapest_likely(probs, ladder, 0.9) == "qwen_7b"


def test_cautious_allocation_reads_the_allocators_probabilities(ladder_pool):
    class Unsure(Scripted):
        def generate(self, prompts, sampling):
            self.batches.append((list(prompts), sampling.top_logprobs))
            top = [{"t": 0.0}, {"3": math.log(0.6), "5": math.log(0.4)}]
            return [Completion("t3", len(p), 2, top_logprobs=top) for p in prompts]

    alloc = Unsure(None)
    for min_success, member in ((None, "t3"), (0.5, "t3"), (0.9, "t5")):
        rule = allocator_rule(router(Scripted(lambda p: ""), alloc), TASK, ["q"], ladder_pool.members, "t5",
                              SamplingParams(), RouterUsage.empty(1), min_success, ["t1", "t2", "t3", "t4", "t5"])
        assert rule([0], 0, ["12 * 7"], [[]]) == [member]
    assert [k for _, k in alloc.batches] == [0, 5, 5]  # top tokens are asked for only when needed
    # escalate: 0.6 on t3 clears 0.5 but not 0.65, and 0.65 goes to the dearest member, not t4
    probs_t4 = {"t": 0.0}, {"3": math.log(0.6), "4": math.log(0.3), "5": math.log(0.1)}

    class ThreeWay(Scripted):
        def generate(self, prompts, sampling):
            return [Completion("t3", len(p), 2, top_logprobs=list(probs_t4)) for p in prompts]

    for rule_name, min_success, member in (("cheapest_likely", 0.85, "t4"), ("escalate", 0.85, "t5"),
                                           ("escalate", 0.5, "t3")):
        rule = allocator_rule(router(Scripted(lambda p: ""), ThreeWay(None)), TASK, ["q"], ladder_pool.members,
                              "t5", SamplingParams(), RouterUsage.empty(1), min_success,
                              ["t1", "t2", "t3", "t4", "t5"], rule_name)
        assert rule([0], 0, ["12 * 7"], [[]]) == [member]
    with pytest.raises(ValueError, match="allocator rule 'bold'"):
        allocator_rule(router(alloc, alloc), TASK, ["q"], ladder_pool.members, "t5", SamplingParams(),
                       RouterUsage.empty(1), 0.9, None, "bold")
    with pytest.raises(ValueError, match="min_success"):
        allocator_rule(router(alloc, alloc), TASK, ["q"], ladder_pool.members, "t5", SamplingParams(),
                       RouterUsage.empty(1), 1.5)


def test_decomposer_rollouts_route_as_evaluation_does(ladder_pool):
    """The decomposer phase's frozen allocator decodes with `min_success`, as evaluation does: an
    unsure allocator (t2 at 0.6) sends the bucket-3 step to t5, and the sampled plan scores."""
    class Unsure(Scripted):
        def generate(self, prompts, sampling):
            top = [{"t": 0.0}, {"2": math.log(0.6), "5": math.log(0.4)}]
            return [Completion("t2", len(p), 2, top_logprobs=top) for p in prompts]

    question = "Ann has 12 apples. Then the apples are multiplied by 7. How many apples are there now?"
    prompt = TASK.decomposer_prompt(question)
    plan = "1. $1 * $2\n"
    outcomes = {}
    for min_success in (None, 0.9):
        env = DecomposerEnv(ladder_pool, router(Scripted(lambda p: plan), Unsure(None)), TASK,
                            {prompt: (question, 84)}, fallback="t5", largest="t5",
                            sampling=SamplingParams(max_new_tokens=4), router_sampling=SamplingParams(),
                            min_success=min_success, ladder=ladder_pool.members)
        outcomes[min_success] = env.outcomes([prompt], [plan])[0]
    assert not outcomes[None].correct  # greedy: t2, wrong on a bucket-3 step in this fake ladder
    assert outcomes[0.9].correct and outcomes[0.9].cost > outcomes[None].cost


def test_a_methods_decoding_changes_how_the_same_router_is_read(ladder_pool):
    """`r2_sft` read as `evaluation.router` says, at cheapest_likely 0.85, escalate 0.85, greedy:
    one router (t3 at 0.6, t4 at 0.3, t5 at 0.1 on every step), four members for the same 12 * 7 step."""
    from r2_pipeline.methods import Decoding, expand_methods, run_method
    from r2_pipeline.methods.kinds import R2
    from r2_pipeline.reasoning.context import MethodContext
    from r2_pipeline.tasks.base import Example

    class ThreeWay(Scripted):
        def generate(self, prompts, sampling):
            top = [{"t": 0.0}, {"3": math.log(0.6), "4": math.log(0.3), "5": math.log(0.1)}]
            return [Completion("t3", len(p), 2, top_logprobs=top) for p in prompts]

    question = "Ann has 12 apples. Then the apples are multiplied by 7. How many apples are there now?"
    context = MethodContext(routers={"r2_sft": (Scripted(lambda p: "1. $1 * $2\n"), ThreeWay(None))},
                            router_price=PRICE, ladder=ladder_pool.members, fallback="t5")

    def chosen(method):
        result = run_method(method, ladder_pool, TASK, [Example("q", question, 84)], SamplingParams(), context)
        return result.traces[0][0].member

    def configured(router):  # the bare name, read as evaluation.router says
        return expand_methods(["r2_sft"], ladder_pool.members, {"router": router}, ["r2_sft"])[0]

    assert chosen(configured({"min_success": 0.5})) == "t3"
    readings = [("cheapest_likely", 0.85, "t4"), ("escalate", 0.85, "t5"), ("greedy", None, "t3"),
                ("escalate", 0.5, "t3")]
    for rule, min_success, member in readings:
        assert chosen(R2(router="r2_sft", decoding=Decoding(rule=rule, min_success=min_success))) == member
    assert chosen(configured({"rule": "escalate", "min_success": 0.85})) == "t5"


def test_decomposer_rollouts_read_the_allocator_by_the_configured_rule(ladder_pool):
    """rl_refinement.rule reaches the frozen allocator: at 0.85, cheapest_likely takes t4 and
    escalate t5 (dearer), for an allocator at t3 0.6, t4 0.3, t5 0.1."""
    class ThreeWay(Scripted):
        def generate(self, prompts, sampling):
            top = [{"t": 0.0}, {"3": math.log(0.6), "4": math.log(0.3), "5": math.log(0.1)}]
            return [Completion("t3", len(p), 2, top_logprobs=top) for p in prompts]

    question = "Ann has 12 apples. Then the apples are multiplied by 7. How many apples are there now?"
    prompt, plan = TASK.decomposer_prompt(question), "1. $1 * $2\n"
    costs = {}
    for rule in ("cheapest_likely", "escalate"):
        env = DecomposerEnv(ladder_pool, router(Scripted(lambda p: plan), ThreeWay(None)), TASK,
                            {prompt: (question, 84)}, fallback="t5", largest="t5",
                            sampling=SamplingParams(max_new_tokens=4), router_sampling=SamplingParams(),
                            min_success=0.85, ladder=ladder_pool.members, rule=rule)
        outcome = env.outcomes([prompt], [plan])[0]
        assert outcome.correct
        costs[rule] = outcome.cost
    assert costs["escalate"] > costs["cheapest_likely"]


def test_estimated_token_counts_are_marked_per_step_and_counted_per_method(ladder_pool):
    """A server that sends no usage gets its tokens estimated by the backend: the step, the question's
    row and the method's metrics say so, so an estimated cost is never read as a measured one."""
    import pandas as pd

    from r2_pipeline.methods import result_rows, run_method
    from r2_pipeline.methods.kinds import Single
    from r2_pipeline.pipelines.evaluation.nodes import summarize
    from r2_pipeline.tasks.base import Example

    class NoUsage:
        fingerprint = "no-usage"

        def generate(self, prompts, sampling):
            return [Completion("7", len(p) // 4, 1, estimated_tokens=True) for p in prompts]

    pool = ModelPool({**ladder_pool.backends, "t1": NoUsage()}, ladder_pool.prices)
    examples = [Example("q", "Ann has 3 apples. Then she gets 4 more. How many apples are there now?", 7,
                        meta={"subtasks": ["3 + 4"]})]
    results = {}
    for member in ("t1", "t2"):
        result = run_method(Single(member=member), pool, TASK, examples, SamplingParams())
        results[member] = result_rows("micro", result, TASK, examples)
        assert [t.estimated_tokens for t in result.traces[0]] == [member == "t1"]
    assert [rows[0]["estimated_token_steps"] for rows in results.values()] == [1, 0]
    frame = pd.DataFrame(results["t1"] + results["t2"])
    metrics = summarize(frame, {"members": {"t1": {}, "t2": {}}, "prices": {"t1": PRICE, "t2": PRICE}},
                        {"benchmarks": {"micro": {}}, "methods": ["single"]})
    assert metrics["micro"]["single:t1"]["estimated_token_steps"] == 1
    assert metrics["micro"]["single:t2"]["estimated_token_steps"] == 0


def test_recheck_climbs_the_ladder_until_an_answer_is_sure(ladder_pool):
    """Every step first goes to t1; an unsure answer (a bucket above the member's skill: token
    probability e^-2) is asked of the next member, and again, until one is sure; every call is paid
    and the last answer is the step's. Without a recheck t1's wrong answers stand."""
    from r2_pipeline.reasoning.execute import Recheck

    plans = [["3 + 4"], ["12 + 7"], ["123 * 7"]]  # buckets 1, 2 and 5
    to_t1 = lambda i, k, f, h: ["t1"] * len(i)  # noqa: E731
    plain = execute(ladder_pool, TASK, ["a", "b", "c"], plans, to_t1, SamplingParams(max_new_tokens=4))
    assert [final_value(t) for t in plain] == [7, 0, 0]
    calls_before = {m: len(b.calls) for m, b in ladder_pool.backends.items()}
    traces = execute(ladder_pool, TASK, ["a", "b", "c"], plans, to_t1, SamplingParams(max_new_tokens=4),
                     Recheck(("t1", "t2", "t3", "t4", "t5"), tau=0.5))
    assert [final_value(t) for t in traces] == [7, 19, 861]
    assert [(t[0].member, t[0].rechecks) for t in traces] == [("t1", 0), ("t2", 1), ("t5", 4)]
    asked = {m: len(b.calls) - calls_before[m] for m, b in ladder_pool.backends.items()}
    assert asked == {"t1": 3, "t2": 2, "t3": 1, "t4": 1, "t5": 1}  # one batch per member and rung
    one_call = ladder_pool.cost("t1", Completion("", 8, 4)) / 0.01  # price scale of t1 = 0.01
    costs = [t[0].cost_usd for t in traces]
    assert costs[0] == pytest.approx(0.01 * one_call)
    assert costs[1] == pytest.approx((0.01 + 0.1) * one_call)
    assert costs[2] == pytest.approx((0.01 + 0.1 + 1 + 10 + 100) * one_call)
    assert traces[2][0].completion_tokens == 5 * 4
    # the per-call table: one row per member asked, each with its own cost; `final` marks the answer
    from r2_pipeline.methods import MethodResult, step_rows
    from r2_pipeline.tasks.base import Example

    result = MethodResult("m", traces, 0.0, [0] * 3, [0] * 3, [0.0] * 3)
    rows = step_rows(result, [Example(q, q, 0, {}) for q in "abc"])
    assert [(r["id"], r["member"], r["final"]) for r in rows] == [
        ("a", "t1", True), ("b", "t1", False), ("b", "t2", True),
        ("c", "t1", False), ("c", "t2", False), ("c", "t3", False), ("c", "t4", False), ("c", "t5", True)]
    assert sum(r["cost_usd"] for r in rows if r["id"] == "c") == pytest.approx(costs[2])
    assert [r["completion_tokens"] for r in rows if r["id"] == "c"] == [4] * 5
    assert rows[3]["value"] == 0 and rows[-1]["value"] == 861  # each call's own answer
    # read at a higher quantile, an unsure answer's one sure token (its end) carries it over tau
    lenient = execute(ladder_pool, TASK, ["a", "b", "c"], plans, to_t1, SamplingParams(max_new_tokens=4),
                      Recheck(("t1", "t2", "t3", "t4", "t5"), tau=0.5, alpha=0.9))
    assert [final_value(t) for t in lenient] == [7, 0, 0]
    assert [t[0].rechecks for t in lenient] == [0, 0, 0]
    # with agree, an unsure answer that repeats the rung below's stands: the bucket-5 step stops at t2,
    # where t1 and t2 give the same wrong value (the risk agreement takes: two members wrong alike)
    agreed = execute(ladder_pool, TASK, ["a", "b", "c"], plans, to_t1, SamplingParams(max_new_tokens=4),
                     Recheck(("t1", "t2", "t3", "t4", "t5"), tau=0.5, agree=True))
    assert [final_value(t) for t in agreed] == [7, 19, 0]
    assert [(t[0].member, t[0].rechecks) for t in agreed] == [("t1", 0), ("t2", 1), ("t2", 1)]
    assert agreed[2][0].cost_usd == pytest.approx((0.01 + 0.1) * one_call)


def test_agreement_is_with_the_rung_just_below_and_never_between_unparsed_answers():
    """Every member unsure. t1 and t2 answer nothing parseable (no agreement: it climbs on), t3 and t4
    give one value (it stops at t4); t1 != t2 = t3 stops at t3, not at t2; t3 repeating t1, two rungs
    down, is no agreement (it climbs to t5)."""
    from r2_pipeline.reasoning.execute import Recheck

    class Fixed:
        def __init__(self, text):
            self.text, self.fingerprint = text, f"fixed-{text}"

        def generate(self, prompts, sampling):
            return [Completion(self.text, len(p), 4, [-2.0, -2.0, -2.0, 0.0]) for p in prompts]

    prices = PriceTable.from_config({f"t{k}": PRICE for k in range(1, 6)})
    ladder = ("t1", "t2", "t3", "t4", "t5")
    agree = Recheck(ladder, tau=0.5, agree=True)
    for texts, stop in ((["abc", "abc", "002", "002", "777"], "t4"), (["001", "002", "002", "003", "777"], "t3"),
                        (["002", "001", "002", "003", "777"], "t5")):
        pool = ModelPool({m: Fixed(t) for m, t in zip(ladder, texts)}, prices)
        trace = execute(pool, TASK, ["a"], [["3 + 4"]], lambda i, k, f, h: ["t1"] * len(i),
                        SamplingParams(max_new_tokens=4), agree)[0][0]
        assert trace.member == stop and trace.rechecks == ladder.index(stop)


def test_a_method_reads_recheck_agree_and_recheck_alpha(ladder_pool):
    """End to end through run_method: the allocator names t3 for a bucket-5 step, which t3 and t4 get
    wrong alike ("000", unsure) and t5 right. +recheck climbs to t5; +recheck_agree stops at t4,
    where t4 repeats t3; recheck_alpha 0.9 reads t3's answer as sure enough (its one sure token)."""
    from r2_pipeline.methods import Decoding, RecheckSpec, run_method
    from r2_pipeline.methods.kinds import R2
    from r2_pipeline.reasoning.context import MethodContext
    from r2_pipeline.tasks.base import Example

    class NamesT3(Scripted):
        def generate(self, prompts, sampling):
            return [Completion("t3", len(p), 2) for p in prompts]

    question = "Ann has 123 apples. Then the apples are multiplied by 7. How many apples are there now?"
    context = MethodContext(routers={"r2_sft": (Scripted(lambda p: "1. $1 * $2\n"), NamesT3(None))},
                            router_price=PRICE, ladder=ladder_pool.members, fallback="t5")
    examples = [Example("q", question, 861)]

    def final(recheck=None):
        method = R2(router="r2_sft", decoding=Decoding(rule="greedy"), recheck=recheck)
        step = run_method(method, ladder_pool, TASK, examples, SamplingParams(max_new_tokens=4), context).traces[0][0]
        return step.member, step.rechecks, step.value

    assert final() == ("t3", 0, 0)
    assert final(RecheckSpec(tau=0.5)) == ("t5", 2, 861)
    assert final(RecheckSpec(tau=0.5, agree=True)) == ("t4", 1, 0)
    context.recheck_alpha = 0.9
    assert final(RecheckSpec(tau=0.5)) == ("t3", 0, 0)


def test_recheck_refuses_a_member_that_sends_no_log_probabilities(ladder_pool, blind):
    from r2_pipeline.reasoning.execute import Recheck

    ladder_pool.backends["t1"] = blind
    with pytest.raises(ValueError, match="pool member 't1' sent no token log-probabilities"):
        execute(ladder_pool, TASK, ["a"], [["3 + 4"]], lambda i, k, f, h: ["t1"] * len(i),
                SamplingParams(max_new_tokens=4), Recheck(("t1", "t2", "t3", "t4", "t5"), tau=0.5))
    with pytest.raises(ValueError, match=r"must list every pool member; missing: \['t5'\]"):
        execute(ladder_pool, TASK, ["a"], [["3 + 4"]], lambda i, k, f, h: ["t1"] * len(i),
                SamplingParams(max_new_tokens=4), Recheck(("t1", "t2", "t3", "t4"), tau=0.5))


def test_micro_only_methods_refuse_another_benchmark_before_any_call():
    """The oracle needs exact subtask answers, the query router outcomes on micro-world questions:
    on GSM8K one would crash after the methods before it were paid, the other mean nothing."""
    from r2_pipeline.methods import run_method
    from r2_pipeline.methods.kinds import Oracle, QueryRouter
    from r2_pipeline.tasks.base import Example, get_task

    for method, reason in [(Oracle(), "exact answer"),
                           (QueryRouter(name="query_router@0.7", threshold=0.7), "micro world's training questions")]:
        with pytest.raises(ValueError, match=f"'{method.label}' runs on the micro benchmark only: .*{reason}"):
            run_method(method, None, get_task("gsm8k"), [Example("g", "What is 2 + 3?", 5)], SamplingParams(), None)
