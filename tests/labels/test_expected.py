"""The micro world's expected economics: success rates from samples, and the best plan and members."""

from r2_pipeline.labels.expected import Rates, best_choice, measure_rates, plan_space


def test_measured_rates_follow_each_members_chance(chance_pool):
    pool = chance_pool({"a": {1: 0.5}, "b": {1: 1.0}})
    rates = measure_rates(pool, ["3 + 4", "3 + 4", "2 * 3"], samples=400)
    assert abs(rates.rate("a", "3 + 4") - 0.5) < 0.1 and rates.rate("b", "2 * 3") == 1.0
    assert rates.cost("b", "3 + 4") > rates.cost("a", "3 + 4") > 0


def test_the_plan_space_holds_every_grouping_with_exact_subtasks():
    space = plan_space(["12 + 5", "#1 - 3", "#2 * 2"])
    assert [plan for plan, _ in space] == [["12 + 5", "#1 - 3", "#2 * 2"], ["(12 + 5) - 3", "#1 * 2"]]
    assert space[1][1] == ["(12 + 5) - 3", "14 * 2"]


def rates_of(table):
    return Rates({m: {s: v for s, v in per.items()} for m, per in table.items()}, samples=1)


def test_a_reliable_compound_on_a_cheap_member_makes_the_merged_plan_best():
    space = plan_space(["12 + 5", "#1 - 3"])
    table = {"cheap": {"12 + 5": (0.9, 1.0), "17 - 3": (0.9, 1.0), "(12 + 5) - 3": (0.99, 1.0)},
             "dear": {"12 + 5": (1.0, 50.0), "17 - 3": (1.0, 50.0), "(12 + 5) - 3": (1.0, 50.0)}}
    choice = best_choice(space, rates_of(table), ["cheap", "dear"], lam=0.5, cost_largest=100.0,
                         router_cost=lambda plan, filled: (0.0, 0.5))
    assert choice.merged and choice.members == ["cheap"]
    assert abs(choice.accuracy - 0.99) < 1e-9 and abs(choice.cost - 1.5) < 1e-9


def test_an_unreliable_compound_leaves_the_steps_apart_and_failure_has_a_price():
    space = plan_space(["12 + 5", "#1 - 3"])
    table = {"cheap": {"12 + 5": (0.6, 1.0), "17 - 3": (1.0, 1.0), "(12 + 5) - 3": (0.3, 1.0)},
             "mid": {"12 + 5": (0.99, 3.0), "17 - 3": (1.0, 3.0), "(12 + 5) - 3": (0.5, 3.0)},
             "dear": {"12 + 5": (1.0, 50.0), "17 - 3": (1.0, 50.0), "(12 + 5) - 3": (0.6, 50.0)}}
    choice = best_choice(space, rates_of(table), ["cheap", "mid", "dear"], lam=0.5, cost_largest=100.0,
                         router_cost=lambda plan, filled: (0.0, 0.0))
    # the 60%-reliable cheap member loses to the 99% one that costs a little more
    assert not choice.merged and choice.members == ["mid", "cheap"]
    # at a harsh enough price the cheap gamble wins
    harsh = best_choice(space, rates_of(table), ["cheap", "mid", "dear"], lam=100.0, cost_largest=100.0,
                        router_cost=lambda plan, filled: (0.0, 0.0))
    assert harsh.members[0] == "cheap"
