"""How much of the allocator's gap to the oracle is the allocator LM's own? A tree on the same labels.

The allocator learns, from grouped-search labels, which members answer a step. Whether a member
answers is a function of the step's digits, so a gradient-boosted tree (scikit-learn, installed with
mlflow) trained on exactly the same labels, from the operation and the operands' digits, shows what
those labels allow. Both are read the same way: P(label <= m) estimates P(m answers the step), and
`min_success` picks the cheapest member that reaches it (reasoning/router.py cheapest_likely).

Printed: per (member, bucket) pair where the choice is hard, the AUC of each model's P(member answers)
against whether it does; then both accuracy-cost frontiers (pool cost relative to the dearest member,
router tokens excluded) beside the step-level oracle. Run on `dev` (3000 fresh questions) or
validation; the tree is a diagnostic, not a router of the pipeline (R2's allocator is an LM).

Usage, from the project root after `kedro run`:
    python benchmarks/allocator_ceiling.py [--split dev] [allocator folder]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from allocator_frontier import allocator_outputs, score
from oracle_floor import member_outcomes
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from r2_pipeline.reasoning.router import cheapest_likely, member_probabilities
from r2_pipeline.tasks import micro

PAIRS = [("t2", 2), ("t3", 2), ("t3", 3), ("t4", 3), ("t4", 4)]
RULES = [0.9, 0.93, 0.95]


def digit_features(filled: pd.Series) -> pd.DataFrame:
    """The operation and every digit of both operands, in the order members read them."""
    rows = []
    for text in filled:
        step = micro.parse_expression(text)
        left, right = micro.member_operands(step)
        row = {"op": "+-*/".index(step.op)}
        for i in range(micro.WIDTH + 1):
            row[f"left_{i}"], row[f"right_{i}"] = (left // 10**i) % 10, (right // 10**i) % 10
        rows.append(row)
    return pd.DataFrame(rows)


def cumulative(probs: list[dict[str, float]], ladder: list[str], member: str) -> list[float]:
    """P(label <= member) per step."""
    upto = ladder[: ladder.index(member) + 1]
    return [sum(p.get(m, 0.0) for m in upto) for p in probs]


def main(folder: str, split: str) -> None:
    root = Path.cwd()
    steps, ladder = member_outcomes(root, split)
    labels = pd.read_parquet(root / "data/03_primary/allocation_labels.parquet")
    tree = HistGradientBoostingClassifier(max_iter=500, learning_rate=0.1, categorical_features=[0], random_state=0)
    tree.fit(digit_features(labels["filled"]), labels["label"])
    tree_probs = [dict(zip(tree.classes_, p)) for p in tree.predict_proba(digit_features(steps["filled"]))]
    lm_probs = [member_probabilities(o.top_logprobs, ladder) for o in allocator_outputs(folder, steps, ladder)]

    print(f"{len(steps)} reference steps of {steps['id'].nunique()} {split} questions; both models trained on "
          f"{len(labels)} allocation labels\n")
    print("| member | bucket | steps | member answers | AUC, allocator LM | AUC, tree |\n|---|---|---|---|---|---|")
    for member, bucket in PAIRS:
        rows = (steps["bucket"] == bucket).to_numpy()
        answers = steps.loc[rows, member].astype(int)
        if answers.nunique() < 2:
            continue
        aucs = [roc_auc_score(answers, [p for p, r in zip(cumulative(probs, ladder, member), rows) if r])
                for probs in (lm_probs, tree_probs)]
        print(f"| {member} | {bucket} | {rows.sum()} | {answers.mean():.3f} | {aucs[0]:.3f} | {aucs[1]:.3f} |")

    buckets = sorted(steps["bucket"].unique())
    print("\n| allocator | min_success | accuracy | pool cost vs dearest | "
          + " | ".join(f"bucket {b}" for b in buckets) + " |")
    print("|---|---|---|---|" + "---|" * len(buckets))
    print("| oracle | - | " + " | ".join(score(steps, ladder, list(steps["oracle"]))) + " |")
    for name, probs in (("allocator LM", lm_probs), ("tree", tree_probs)):
        for rule in RULES:
            choice = [cheapest_likely(p, ladder, rule) or ladder[-1] for p in probs]
            print(f"| {name} | {rule} | " + " | ".join(score(steps, ladder, choice)) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="data/06_models/allocator_sft")
    parser.add_argument("--split", default="dev", choices=["dev", "validation", "test"])
    args = parser.parse_args()
    main(args.folder, args.split)
