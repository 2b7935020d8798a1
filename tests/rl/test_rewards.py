"""Rewards, table-driven: correct, wrong, unparseable, empty; and the same grader as evaluation."""

import pytest

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.rl.rewards import (
    AllocatorEnv,
    Outcome,
    correctness,
    cost_penalty,
    format_reward,
    make_rewards,
)
from r2_pipeline.tasks.micro.task import TASK

CASES = [
    # outcome,                                   correctness, cost(lambda=0.5), format
    (Outcome(True, True, 0.1, 1.0), 1.0, -0.05, 0.0),     # correct and cheap
    (Outcome(True, False, 1.0, 1.0), 0.0, -0.5, 0.0),     # wrong on the dearest member
    (Outcome(False, False, 0.0, 0.0), 0.0, -0.5, -1.0),   # unparseable: nothing ran, charged in full
    (Outcome(True, True, 1.0, 1.0), 1.0, -0.5, 0.0),      # correct on the dearest member
]


@pytest.mark.parametrize(("outcome", "right", "cost", "fmt"), CASES)
def test_reward_table(outcome, right, cost, fmt):
    assert correctness([outcome]) == [right]
    assert cost_penalty([outcome], lam=0.5) == [pytest.approx(cost)]
    assert format_reward([outcome]) == [fmt]


@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0, 10.0])
def test_an_unparseable_output_never_outscores_a_parsed_one(lam):
    """Whatever lambda: the worst parsed output (wrong, every step on the dearest member) still
    scores above one that cannot be parsed."""
    def total(outcome):
        return correctness([outcome])[0] + cost_penalty([outcome], lam)[0] + format_reward([outcome])[0]

    assert total(Outcome(True, False, 1.0, 1.0)) > total(Outcome(False, False, 0.0, 0.0))


def test_empty_batches():
    assert correctness([]) == [] and cost_penalty([], 0.5) == [] and format_reward([]) == []


def test_allocator_env_rewards_in_trl_signature(ladder_pool):
    gold = {TASK.allocator_prompt("", [], "12 * 7"): ("12 * 7", 84)}
    env = AllocatorEnv(ladder_pool, TASK, gold, largest="t5", sampling=SamplingParams(max_new_tokens=4))
    right, cost, fmt = make_rewards(["correctness", "cost", "format"], env, lam=0.5)
    prompt = next(iter(gold))
    completions = ["t3", "t2", "t5", "", "gpt-9"]
    prompts = [prompt] * len(completions)
    assert right(prompts, completions) == [1.0, 0.0, 1.0, 0.0, 0.0]  # t2 cannot do bucket 3
    assert fmt(prompts, completions) == [0.0, 0.0, 0.0, -1.0, -1.0]
    penalties = cost(prompts, completions)
    assert penalties[2] == pytest.approx(-0.5) and -0.5 < penalties[0] < penalties[2] + 0.5
    assert penalties[3:] == [-0.5, -0.5]  # names no member: charged as the dearest
    assert right.__name__ == "correctness"
    assert env.batches == 1  # the three reward functions read one execution of the batch


def test_unknown_reward_name():
    with pytest.raises(ValueError, match="unknown reward functions"):
        make_rewards(["brevity"], env=None, lam=0.1)


def test_allocator_cost_is_measured_against_the_whole_question(ladder_pool):
    one_step = {TASK.allocator_prompt("", [], "12 * 7"): ("12 * 7", 84)}
    four_steps = {TASK.allocator_prompt("", [], "12 * 7"): ("12 * 7", 84, 4)}
    penalty = {}
    for name, gold in (("step", one_step), ("question", four_steps)):
        env = AllocatorEnv(ladder_pool, TASK, gold, largest="t5", sampling=SamplingParams(max_new_tokens=4))
        cost = make_rewards(["cost"], env, lam=0.5)[0]
        penalty[name] = cost(list(gold), ["t5"])[0]
    assert penalty["step"] == pytest.approx(-0.5)
    assert penalty["question"] == pytest.approx(-0.125)  # one step of four on the largest member


def test_rewards_read_conversational_prompts_and_completions():
    """A chat model's GRPO passes message lists (grpo_train); the environment sees the text."""
    from r2_pipeline.rl.rewards import Outcome, make_rewards

    class Env:
        seen: list = []

        def outcomes(self, prompts, completions, reader=None):
            self.seen += list(zip(prompts, completions))
            return [Outcome(True, True, 1.0, 2.0) for _ in prompts]

    env = Env()
    (correct,) = make_rewards(["correctness"], env, 0.5)
    chat = [[{"role": "user", "content": "Q?"}]]
    assert correct(chat, [[{"role": "assistant", "content": "1. a"}]]) == [1.0]
    assert correct(["Q?"], ["1. a"]) == [1.0]
    assert env.seen[0][0] == "Q?" and env.seen[1] == ("Q?", "1. a")
