"""Would the executing member's own confidence buy accuracy more cheaply than the allocator's caution?

The allocator decides from a step's text alone which member answers it. After the chosen member has
answered, its answer-token probabilities are a second, free signal. This script measures, on the
reference plans of a split (`oracle_floor.member_outcomes`: every member on every step, exact
earlier values substituted), what a cascade on that signal gives on top of an allocator reading,
with the pipeline's confidence (`execute.answer_confidence` at `evaluation.router.recheck_alpha`:
for conf/base the answer's lowest token probability, over the evaluation's `sampling`):

- `climb` (the pipeline's `+recheck=<tau>`, `execute.Recheck`): a step whose answer confidence is
  below tau goes one rung up the ladder, and again while the new answer is below tau, up to the
  dearest member (every call paid);
- `agree` (the pipeline's `+recheck_agree=<tau>`): the same climb, but an unsure answer whose value
  is the one the rung below gave stands (two members agree);
- `top` (for comparison, not in the pipeline): it is asked again of the dearest member.

Then, for the steps each rule sends to the dearest member, whether the rung below would do: how
often it answers them, is sure and right when sure, and agrees with the rung below it.

A question is right when all its steps are; cost is the pool's relative to the dearest member on the
same steps (router tokens excluded), as in allocator_frontier. The confidence calls ask for
log-probabilities, so each member answers every step once more through the call cache.

Usage, from the project root after `kedro run`:
    python benchmarks/confidence_cascade.py [--split dev] [--rules greedy,0.93,escalate=0.9]
        [--taus 0.5,0.8,0.9,0.95,0.99] [allocator folder]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from allocator_frontier import allocator_outputs, choose, parse_rules, rule_name
from oracle_floor import evaluation_params, member_outcomes, micro_pool

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.reasoning.execute import answer_confidence
from r2_pipeline.reasoning.router import member_probabilities, validate_member
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK


def recheck_alpha(evaluation: dict) -> float:
    """The quantile of an answer's token probabilities `+recheck` reads (evaluation.router.recheck_alpha)."""
    return evaluation["router"].get("recheck_alpha", 0.0)


def confidence_words(root: Path) -> str:
    """What `confidences` reads, in words, for the printed tables."""
    alpha = recheck_alpha(evaluation_params(root))
    return "the answer's lowest token probability" if alpha == 0 else f"the {alpha}-quantile of the answer's token probabilities"


def confidences(root: Path, steps: pd.DataFrame, ladder: list[str]) -> pd.DataFrame:
    """Per member, its answer confidence on every step (`<member>`) and the value it parses to
    (`<member>_value`), from one batch per member asked for log-probabilities with the evaluation's
    member sampling, and read at its `recheck_alpha`, as `+recheck` asks and reads it."""
    pool, _ = micro_pool(root)
    evaluation = evaluation_params(root)
    prompts = [micro.member_prompt(f) for f in steps["filled"]]
    sampling = SamplingParams(**{**evaluation["sampling"], "logprobs": True})
    alpha = recheck_alpha(evaluation)
    out = pd.DataFrame(index=steps.index)
    for member in ladder:
        answers = pool.generate(member, prompts, sampling)
        out[member] = [answer_confidence(a.token_logprobs, alpha) for a in answers]
        out[f"{member}_value"] = [TASK.parse_subtask(p, a.text) for p, a in zip(prompts, answers)]
    return out


def cascade(steps: pd.DataFrame, conf: pd.DataFrame, ladder: list[str], choice: list[str], tau: float,
            mode: str) -> tuple[float, float, float]:
    """Question accuracy, pool cost vs the dearest member, share of steps asked again. `mode`: `climb`
    (one rung up while unsure), `agree` (the same, but an unsure answer with the rung below's value
    stands: `+recheck_agree`), `top` (straight to the dearest member)."""
    top = ladder[-1]
    right, cost, again = [], [], 0
    for i, chosen in zip(steps.index, choice):
        member, paid, asked_again, below = chosen, steps.at[i, f"{chosen}_cost"], False, None
        while member != top and conf.at[i, member] < tau:
            value = conf.at[i, f"{member}_value"]
            if mode == "agree" and value is not None and value == below:
                break
            below = value
            member = top if mode == "top" else ladder[ladder.index(member) + 1]
            paid += steps.at[i, f"{member}_cost"]
            asked_again = True
        again += asked_again
        right.append(steps.at[i, member])
        cost.append(paid)
    accuracy = pd.Series(right, index=steps.index).groupby(steps["id"]).all().mean()
    return float(accuracy), float(np.sum(cost) / steps[f"{top}_cost"].sum()), again / len(steps)


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


def parse_taus(text: str) -> list[float]:
    """`0.7,0.85` -> [0.7, 0.85]: confidence thresholds, each in (0, 1] as `+recheck=<tau>` takes them."""
    try:
        taus = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"taus {text!r}: write numbers in (0, 1], comma-separated") from None
    if not all(0 < t <= 1 for t in taus):
        raise argparse.ArgumentTypeError(f"taus {text!r}: every tau must be in (0, 1]")
    return taus


def main(folder: str, split: str, rules: list, taus: list[float]) -> None:
    root = Path.cwd()
    steps, ladder = member_outcomes(root, split)
    conf = confidences(root, steps, ladder)
    outs = allocator_outputs(folder, steps, ladder)
    named = [validate_member(o.text, ladder) or ladder[-1] for o in outs]
    probs = [member_probabilities(o.top_logprobs, ladder) for o in outs]
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
        print(f"| {rule_name(rule)} | - | - | {base[0]:.3f} | {base[1]:.3f} | 0 |")
        for tau in taus:
            for mode in ("top", "climb", "agree"):
                acc, cost, again = cascade(steps, conf, ladder, choice, tau, mode)
                print(f"| {rule_name(rule)} | {tau} | {mode} | {acc:.3f} | {cost:.3f} | {again:.3f} |")
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
        print(f"| {rule_name(rule)} | {b['steps']} | {b['below_right']:.3f} | " + " / ".join(map(str, b["sure"]))
              + " | " + " / ".join(f"{r:.3f}" for r in b["sure_right"])
              + f" | {b['agree']} | {b['agree_right']:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="data/06_models/allocator_sft")
    parser.add_argument("--split", default="dev", choices=["dev", "validation", "test"])
    parser.add_argument("--rules", default="greedy,0.93,escalate=0.9", type=parse_rules)
    parser.add_argument("--taus", default="0.5,0.8,0.9,0.95,0.99", type=parse_taus)
    args = parser.parse_args()
    main(args.folder, args.split, args.rules, args.taus)
