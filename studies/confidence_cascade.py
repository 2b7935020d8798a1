"""Would the executing member's own confidence buy accuracy more cheaply than the allocator's caution?

The allocator decides from a step's text alone which member answers it. After the chosen member has
answered, its answer-token probabilities are a second, free signal. This script measures, on the
reference plans of a split (`analysis.member_outcomes`: every member on every step, exact
earlier values substituted), what a cascade on that signal gives on top of an allocator reading,
with the pipeline's confidence (`execute.answer_confidence` at `evaluation.router.recheck_alpha`:
for conf/base the answer's lowest token probability, over the evaluation's `sampling`):

- `climb` (the pipeline's recheck at tau, `execute.Recheck`): a step whose answer confidence is
  below tau goes one rung up the ladder, and again while the new answer is below tau, up to the
  dearest member (every call paid);
- `agree` (the pipeline's recheck with agreement): the same climb, but an unsure answer whose value
  is the one the rung below gave stands (two members agree);
- `top` (for comparison, not in the pipeline): it is asked again of the dearest member.

Then, for the steps each rule sends to the dearest member, whether the rung below would do: how
often it answers them, is sure and right when sure, and agrees with the rung below it.

A question is right when all its steps are; cost is the pool's relative to the dearest member on the
same steps (router tokens excluded), as in allocator_frontier.py. The confidence calls ask for
log-probabilities, so each member answers every step once more through the call cache.

Usage, from the project root after `kedro run`:
    python studies/confidence_cascade.py [--split dev] [--rules greedy,cheapest_likely:0.93,escalate:0.9]
        [--taus 0.5,0.8,0.9,0.95,0.99] [allocator folder]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from r2_pipeline.analysis import (
    SPLITS,
    allocator_outputs,
    cascade,
    choose,
    confidence_words,
    confidences,
    member_outcomes,
    model_folders,
    parse_rules,
    parse_taus,
    readings,
)


def below_the_top(steps: pd.DataFrame, conf: pd.DataFrame, ladder: list[str], choice: list[str],
                  taus: list[float]) -> dict:
    """On the steps `choice` sends to the dearest member: how often the rung below answers them, is
    sure of its answer (at each tau) and right when sure, and how often the two rungs below agree
    and are right then. Whether starting those steps lower could save anything the cascade reads."""
    top, below, lower = ladder[-1], ladder[-2], ladder[-3]
    chosen = pd.Series(choice, index=steps.index) == top
    agree = chosen & conf[f"{lower}_value"].notna() & (conf[f"{lower}_value"] == conf[f"{below}_value"])
    sure = [chosen & (conf[below] >= t) for t in taus]
    return {
        "steps": int(chosen.sum()),
        "below_right": float(steps.loc[chosen, below].mean()) if chosen.any() else float("nan"),
        "sure": [int(s.sum()) for s in sure],
        "sure_right": [float(steps.loc[s, below].mean()) if s.any() else float("nan") for s in sure],
        "agree": int(agree.sum()),
        "agree_right": float(steps.loc[agree, below].mean()) if agree.any() else float("nan"),
    }


def main(folder: str, split: str, rules: list, taus: list[float]) -> None:
    root = Path.cwd()
    steps, ladder = member_outcomes(root, split)
    conf = confidences(root, steps, ladder)
    probs, named = readings(allocator_outputs(folder, steps, ladder), ladder)
    print(f"{len(steps)} reference steps of {steps['id'].nunique()} {split} questions; allocator {folder}; "
          f"confidence: {confidence_words(root)}; cost: pool, vs {ladder[-1]} alone\n")
    print("| member | step accuracy | steps at confidence >= " + " / ".join(map(str, taus))
          + " | accuracy there |")
    print("|---|---|---|---|")
    for member in ladder:
        sure = [conf[member] >= t for t in taus]
        print(f"| {member} | {steps[member].mean():.3f} | " + " / ".join(f"{s.mean():.2f}" for s in sure) + " | "
              + " / ".join(f"{steps.loc[s, member].mean():.3f}" if s.any() else "-" for s in sure) + " |")
    print(f"\n| rule | tau | mode | accuracy | cost vs {ladder[-1]} | steps asked again |\n|---|---|---|---|---|---|")
    for rule in rules:
        choice = choose(rule, probs, named, ladder)
        base = cascade(steps, conf, ladder, choice, 0.0, "top")
        print(f"| {rule} | - | - | {base[0]:.3f} | {base[1]:.3f} | 0 |")
        for tau in taus:
            for mode in ("top", "climb", "agree"):
                acc, cost, again = cascade(steps, conf, ladder, choice, tau, mode)
                print(f"| {rule} | {tau} | {mode} | {acc:.3f} | {cost:.3f} | {again:.3f} |")
    if len(ladder) < 3:
        return
    top, below, lower = ladder[-1], ladder[-2], ladder[-3]
    print(f"\nSteps each rule sends to {top}: would {below} do? Sure at tau: {below}'s confidence >= tau; "
          f"agree: {lower} and {below} give the same value.\n")
    print(f"| rule | steps to {top} | {below} right | {below} sure at " + " / ".join(map(str, taus))
          + f" | right when sure | {lower} and {below} agree | right when they agree |")
    print("|---|---|---|---|---|---|---|")
    for rule in rules:
        b = below_the_top(steps, conf, ladder, choose(rule, probs, named, ladder), taus)
        print(f"| {rule} | {b['steps']} | {b['below_right']:.3f} | " + " / ".join(map(str, b["sure"]))
              + " | " + " / ".join(f"{r:.3f}" for r in b["sure_right"])
              + f" | {b['agree']} | {b['agree_right']:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="data/06_models/allocator_sft")
    parser.add_argument("--split", default="dev", choices=SPLITS)
    parser.add_argument("--rules", default="greedy,cheapest_likely:0.93,escalate:0.9", type=parse_rules,
                        help="comma-separated: greedy, cheapest_likely:<p>, escalate:<p>")
    parser.add_argument("--taus", default="0.5,0.8,0.9,0.95,0.99", type=parse_taus)
    args = parser.parse_args()
    model_folders(parser, [args.folder])
    main(args.folder, args.split, args.rules, args.taus)
