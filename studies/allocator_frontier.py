"""A trained allocator alone: its accuracy-cost frontier on the reference plans of a micro split.

Every pool member's outcome on every reference step comes from `analysis.member_outcomes` (one
batch per member, through the call cache); the allocator reads each step once with its top tokens.
Each decoding rule (`greedy`, `cheapest_likely:<p>`, `escalate:<p>`; reasoning/router.py
read_allocation) then picks a member per step, and a question is right when all its steps are.
Cost is the pool's, relative to the dearest member on the same steps (router tokens excluded: they
do not depend on the rule); the dearest member alone is a row too. Per bucket: the steps answered
right and the share sent to the dearest member, against the step-level oracle. This separates
allocation from the decomposer's errors.

Usage, from the project root after `kedro run`:
    python studies/allocator_frontier.py [--split dev] [--rules cheapest_likely:0.9,escalate:0.99]
        [allocator folder ...]
(default: the test split, greedy and cheapest_likely at 0.8, 0.9, 0.93, 0.95,
data/06_models/allocator_sft). Choose a rule on the dev split (data_generation's world_dev, ten
times validation, for telling allocators apart), then read the test split once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from r2_pipeline.analysis import (
    SPLITS,
    allocator_outputs,
    choose,
    member_outcomes,
    model_folders,
    parse_rules,
    readings,
    score,
)

RULES = "greedy,cheapest_likely:0.8,cheapest_likely:0.9,cheapest_likely:0.93,cheapest_likely:0.95"


def main(folders: list[str], split: str, rules: list) -> None:
    steps, ladder = member_outcomes(Path.cwd(), split)
    buckets = sorted(steps["bucket"].unique())
    print(f"{len(steps)} reference steps of {steps['id'].nunique()} {split} questions; "
          f"bucket cells: step accuracy / share to {ladder[-1]}\n")
    print("| allocator | rule | accuracy | pool cost vs dearest | " + " | ".join(f"bucket {b}" for b in buckets) + " |")
    print("|---|---|---|---|" + "---|" * len(buckets))
    print("| - | oracle | " + " | ".join(score(steps, ladder, list(steps["oracle"]))) + " |")
    print(f"| - | {ladder[-1]} alone | " + " | ".join(score(steps, ladder, [ladder[-1]] * len(steps))) + " |")
    for folder in folders:
        probs, named = readings(allocator_outputs(folder, steps, ladder), ladder)
        for rule in rules:
            print(f"| {folder} | {rule} | " + " | ".join(score(steps, ladder, choose(rule, probs, named, ladder))) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", default=["data/06_models/allocator_sft"])
    parser.add_argument("--split", default="test", choices=SPLITS)
    parser.add_argument("--rules", type=parse_rules, default=RULES,
                        help="comma-separated: greedy, cheapest_likely:<p>, escalate:<p>")
    args = parser.parse_args()
    model_folders(parser, args.folders)
    main(args.folders, args.split, args.rules)
