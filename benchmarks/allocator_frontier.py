"""A trained allocator alone: its accuracy-cost frontier on the reference plans of the micro test split.

Every pool member's outcome on every reference step comes from `oracle_floor.member_outcomes` (one
batch per member, through the call cache); the allocator reads each step once with its top tokens.
Each decoding rule (greedy, `min_success` thresholds read by cheapest_likely, `escalate=<p>`) then
picks a member per step, and a question is right when all its steps are. Cost is the pool's,
relative to the dearest member on the same steps (router tokens excluded: they do not depend on
the rule); the dearest member alone is a row too. Per bucket: the steps answered
right and the share sent to the dearest member, against the step-level oracle. This separates
allocation from the decomposer's errors.

Usage, from the project root after `kedro run`:
    python benchmarks/allocator_frontier.py [--split validation] [--rules 0.8,0.9,escalate=0.99] [allocator folder ...]
(default: the test split, greedy and min_success 0.8, 0.9, 0.93, 0.95, data/06_models/allocator_sft).
Choose a threshold on the validation split, then read the test split once. `--split dev` scores 3000
fresh questions drawn after every split (oracle_floor.dev_world): ten times validation, for telling
allocators apart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from oracle_floor import member_outcomes

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.local import trained_router
from r2_pipeline.reasoning.methods import router_decoding
from r2_pipeline.reasoning.router import member_probabilities, read_allocation, validate_member
from r2_pipeline.tasks.micro.task import TASK

RULES = [None, 0.8, 0.9, 0.93, 0.95]


def score(steps: pd.DataFrame, ladder: list[str], choice: list[str]) -> list[str]:
    """Question accuracy, pool cost relative to the dearest member, and per bucket the step accuracy
    and share sent to the dearest member, for one member per step."""
    picked = pd.DataFrame({
        "id": steps["id"], "bucket": steps["bucket"], "dearest": [c == ladder[-1] for c in choice],
        "right": [steps.at[i, c] for i, c in zip(steps.index, choice)],
        "cost": [steps.at[i, f"{c}_cost"] for i, c in zip(steps.index, choice)],
    })
    accuracy = picked.groupby("id")["right"].all().mean()
    cost = picked["cost"].sum() / steps[f"{ladder[-1]}_cost"].sum()
    buckets = [f"{g['right'].mean():.3f} / {g['dearest'].mean():.2f}" for _, g in picked.groupby("bucket")]
    return [f"{accuracy:.3f}", f"{cost:.3f}", *buckets]


def allocator_outputs(folder: str, steps: pd.DataFrame, ladder: list[str]) -> list:
    """The allocator's completion for every step, one batch, with its top tokens over the ladder."""
    return trained_router(folder).generate([TASK.allocator_prompt("", [], f) for f in steps["filled"]],
                                           SamplingParams(max_new_tokens=4, top_logprobs=len(ladder)))


def main(folders: list[str], split: str = "test", rules: list[float | None] = RULES) -> None:
    steps, ladder = member_outcomes(Path.cwd(), split)
    buckets = sorted(steps["bucket"].unique())
    print(f"{len(steps)} reference steps of {steps['id'].nunique()} {split} questions; "
          f"bucket cells: step accuracy / share to {ladder[-1]}\n")
    print("| allocator | rule | accuracy | pool cost vs dearest | " + " | ".join(f"bucket {b}" for b in buckets) + " |")
    print("|---|---|---|---|" + "---|" * len(buckets))
    print("| - | oracle | " + " | ".join(score(steps, ladder, list(steps["oracle"]))) + " |")
    print(f"| - | {ladder[-1]} alone | " + " | ".join(score(steps, ladder, [ladder[-1]] * len(steps))) + " |")
    for folder in folders:
        outs = allocator_outputs(folder, steps, ladder)
        named = [validate_member(o.text, ladder) or ladder[-1] for o in outs]
        probs = [member_probabilities(o.top_logprobs, ladder) for o in outs]
        for rule in rules:
            print(f"| {folder} | {rule_name(rule)} | " + " | ".join(score(steps, ladder, choose(rule, probs, named, ladder)))
                  + " |")


def choose(rule, probs: list[dict], named: list[str], ladder: list[str]) -> list[str]:
    """One member per step under a rule, as the pipeline reads it (router.read_allocation): None
    greedy (the named member), p cheapest_likely at p, ("escalate", p) escalate at p."""
    name, threshold = rule if isinstance(rule, tuple) else ("cheapest_likely", rule)
    return [read_allocation(p, n, ladder, threshold, name) for p, n in zip(probs, named)]


def rule_name(rule) -> str:
    if rule is None:
        return "greedy"
    return f"escalate {rule[1]}" if isinstance(rule, tuple) else f"min_success {rule}"


def parse_rules(text: str) -> list:
    """`greedy,0.9,cheapest_likely=0.95,escalate=0.99` -> [None, 0.9, 0.95, ("escalate", 0.99)]: the
    decodings the pipeline's method suffixes name (reasoning/methods.py router_decoding)."""
    rules = []
    for rule in text.split(","):
        try:
            name, threshold = router_decoding(f"allocator@{rule}", "cheapest_likely", None)
        except ValueError:
            raise argparse.ArgumentTypeError(f"rule {rule!r}: write greedy, <p>, cheapest_likely=<p> or "
                                             "escalate=<p>, with p in (0, 1]") from None
        rules.append(None if threshold is None else (name, threshold) if name == "escalate" else threshold)
    return rules


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", default=["data/06_models/allocator_sft"])
    parser.add_argument("--split", default="test", choices=["test", "validation", "train", "dev"])
    parser.add_argument("--rules", type=parse_rules, default=RULES,
                        help="comma-separated: greedy, min_success thresholds (0.9) and/or escalate=<p>")
    args = parser.parse_args()
    main(args.folders, args.split, args.rules)
