"""How much of RL's room is the noise of one-try labels?

The grouped search (labels/grouped_search.py) asks each member once per rung, as the paper does,
so a sampling member that answers a step once by luck is its label. `data_generation.allocation`
`tries: n` asks every rung n times and accepts a member where at least `accept_share` of its
answers are right. This study replays the label policy (the plan data_generation chooses for each
question and the member the search labels for each of its steps, methods/idealised.py) under each
setting, next to the expected-reward oracle:

- `label policy`: expected accuracy, cost / largest and objective of the labelled members on the
  chosen plans, scored with each subtask's true rates; `calls / step`: the search's paid calls per
  labelled step, what the labels cost to make;
- `oracle`: the best plan and members per question from each subtask's rates (the expected
  oracle, as in studies/room_split.py);
- `room left`: the oracle's objective minus the label policy's, what imitating these labels
  perfectly still leaves to RL.

Expected values from `--samples` samples per subtask and member (labels/expected.py), router calls
not charged, on the pool and settings of conf/base. The first setting is conf/base's own search.
An expected accuracy is the chance that every step is right; the evaluation also counts a final
answer that a wrong step reached by chance, so its accuracies run a few points higher.

Usage, from the project root after `kedro run` (model_pool and data_generation):
    python studies/label_tries.py [--split test] [--questions 500] [--samples 16] [--lambdas 0.2,0.5,1]
        [--tries 1:0.5,3:0.5,5:0.5,5:0.8]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from r2_pipeline.analysis import conf, micro_pool, rate_arguments, read_split
from r2_pipeline.labels.expected import Rates, measure_rates, plan_space
from r2_pipeline.methods.idealised import chosen_plans, expected_choices, search_labels
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK


def settings(text: str) -> list[tuple[int, float]]:
    """`1:0.5,5:0.8` -> [(1, 0.5), (5, 0.8)]: tries (>= 1) and accept_share (in (0, 1]; default 0.5)."""
    pairs = []
    for part in text.split(","):
        tries, _, share = part.partition(":")
        try:
            pair = (int(tries), float(share or 0.5))
        except ValueError:
            raise argparse.ArgumentTypeError(f"tries {part!r}: write <tries>:<accept_share>, e.g. 5:0.8") from None
        if pair[0] < 1 or not 0 < pair[1] <= 1:
            raise argparse.ArgumentTypeError(f"tries {part!r}: tries must be >= 1 and accept_share in (0, 1]")
        pairs.append(pair)
    return pairs


def expected(members, filled, rates: Rates, lam: float, cost_largest: float) -> tuple[float, float, float]:
    """(accuracy, cost / largest, objective) of one question's members on its filled subtasks."""
    accuracy = math.prod(rates.rate(m, f) for m, f in zip(members, filled))
    cost = sum(rates.cost(m, f) for m, f in zip(members, filled)) / cost_largest
    return accuracy, cost, accuracy - lam * cost


def mean(rows) -> list[float]:
    return [sum(r[k] for r in rows) / len(rows) for k in range(3)]


def main(split: str, questions: int, samples: int, lambdas: list[float], grid: list[tuple[int, float]]) -> None:
    root = Path.cwd()
    examples = TASK.load(read_split(root, split).head(questions))
    pool, ladder = micro_pool(root)
    spec = conf(root, "data_generation")
    plans = chosen_plans(pool, TASK, examples, spec)
    filled = [[f for f, _ in micro.filled_subtasks(p)] for p in plans]
    spaces = [plan_space(TASK.reference_subtasks(e)) for e in examples]
    subtasks = {f for space in spaces for _, fs in space for f in fs} | {f for fs in filled for f in fs}
    rates = measure_rates(pool, sorted(subtasks), samples, ladder)
    cost_largest = sum(sum(rates.cost(ladder[-1], f) for f in space[0][1]) for space in spaces) / len(spaces)
    base = spec["allocation"]
    grid = [(base.get("tries", 1), base.get("accept_share", 0.5))] + [g for g in grid if g != (
        base.get("tries", 1), base.get("accept_share", 0.5))]

    labelled, steps = {}, sum(len(fs) for fs in filled)
    for tries, share in grid:
        members, attempts = search_labels(pool, plans, ladder, {**base, "tries": tries, "accept_share": share})
        labelled[tries, share] = (members, len(attempts) / steps)

    print(f"{len(examples)} {split} questions, {samples} samples per subtask and member; label policy "
          f"(accuracy, cost / largest, objective) against the expected oracle:\n")
    print("| lambda | tries | accept_share | calls / step | label policy | oracle | room left |")
    print("|---|---|---|---|---|---|---|")
    for lam in lambdas:
        picks = expected_choices(pool, TASK, examples, ladder, lam, samples, rates=rates)
        oracle = mean([expected(c.members, c.filled, rates, lam, cost_largest) for c in picks])
        for (tries, share), (members, calls) in labelled.items():
            policy = mean([expected(m, f, rates, lam, cost_largest) for m, f in zip(members, filled)])
            print(f"| {lam:g} | {tries} | {share:g} | {calls:.2f} | {policy[0]:.3f}, {policy[1]:.3f}, {policy[2]:.3f} "
                  f"| {oracle[0]:.3f}, {oracle[1]:.3f}, {oracle[2]:.3f} | {oracle[2] - policy[2]:+.3f} |")


if __name__ == "__main__":
    parser = rate_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--tries", type=settings, default=settings("1:0.5,3:0.5,5:0.5,5:0.8"),
                        help="comma-separated tries:accept_share settings of the search, e.g. 1:0.5,5:0.8")
    args = parser.parse_args()
    main(args.split, args.questions, args.samples, args.lambdas, args.tries)
