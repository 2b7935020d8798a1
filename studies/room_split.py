"""How much of RL's room can a router reach that knows only what kind of step it reads?

The expected-reward oracle (methods/idealised.py) knows each member's true success rate on each
exact subtask. A router reads a subtask's text and can learn what its difficulty bucket predicts,
but a tiny member's luck on one exact subtask (which carries it gets right) is mostly not written
in the text. This study splits the oracle's objective into what the bucket alone reaches and what
needs the exact subtask's rates:

- `per-subtask oracle`: the best plan and members per question from each subtask's own rates
  (the expected oracle, without router tokens);
- `bucket oracle`: the same search, but every subtask's rate is the mean rate of its bucket
  (over the split; labels/expected.py bucket_rates, which the evaluation's `expected_oracle` with
  `knows: bucket` reads too), so the choice knows only each member's rate per bucket; its plan and
  members are then scored with the true per-subtask rates.

Both are expected values (accuracy - lambda * cost / cost(largest)), with rates and costs from
`--samples` samples per subtask and member (labels/expected.py), router calls not charged. The
difference is the part of the room that knowing a step's bucket cannot reach.

Usage, from the project root after `kedro run` (model_pool and data_generation):
    python studies/room_split.py [--split test] [--questions 500] [--samples 16] [--lambdas 0.2,0.5,1]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from r2_pipeline.analysis import micro_pool, rate_arguments, read_split
from r2_pipeline.labels.expected import Rates, bucket_rates, measure_rates, plan_space
from r2_pipeline.methods.idealised import expected_choices
from r2_pipeline.tasks.micro.task import TASK


def scored(choice, rates: Rates, lam: float, cost_largest: float) -> tuple[float, float, float]:
    """(accuracy, cost, objective) of a chosen plan and members under `rates`."""
    accuracy = math.prod(rates.rate(m, f) for m, f in zip(choice.members, choice.filled))
    cost = sum(rates.cost(m, f) for m, f in zip(choice.members, choice.filled))
    return accuracy, cost, accuracy - lam * cost / cost_largest


def main(split: str, questions: int, samples: int, lambdas: list[float]) -> None:
    root = Path.cwd()
    examples = TASK.load(read_split(root, split).head(questions))
    pool, ladder = micro_pool(root)
    spaces = [plan_space(TASK.reference_subtasks(e)) for e in examples]
    subtasks = sorted({f for space in spaces for _, filled in space for f in filled})
    true = measure_rates(pool, subtasks, samples, ladder)
    _, means = bucket_rates(true, subtasks, ladder)
    cost_largest = sum(sum(true.cost(ladder[-1], f) for f in space[0][1]) for space in spaces) / len(spaces)

    print(f"{len(examples)} {split} questions, {samples} samples per subtask and member; rates per bucket:\n")
    buckets = sorted({b for _, b in means})
    print("| member | " + " | ".join(f"b{b}" for b in buckets) + " |")
    print("|---" * (len(buckets) + 1) + "|")
    for m in ladder:
        print(f"| {m} | " + " | ".join(f"{means[m, b]:.2f}" for b in buckets) + " |")

    print("\n| lambda | per-subtask oracle (acc, cost / largest, objective) | bucket oracle (acc, cost, objective) "
          "| objective the bucket cannot reach |")
    print("|---|---|---|---|")
    for lam in lambdas:
        rows = {}
        for knows in ("subtask", "bucket"):  # the evaluation's expected_oracle search, scored with the true rates
            picks = expected_choices(pool, TASK, examples, ladder, lam, samples, rates=true, knows=knows)
            values = [scored(c, true, lam, cost_largest) for c in picks]
            rows[knows] = [sum(v[k] for v in values) / len(values) for k in range(3)]
        s, b = rows["subtask"], rows["bucket"]
        print(f"| {lam:g} | {s[0]:.3f}, {s[1] / cost_largest:.3f}, {s[2]:.3f} | {b[0]:.3f}, {b[1] / cost_largest:.3f}, "
              f"{b[2]:.3f} | {s[2] - b[2]:+.3f} |")


if __name__ == "__main__":
    args = rate_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0])).parse_args()
    main(args.split, args.questions, args.samples, args.lambdas)
