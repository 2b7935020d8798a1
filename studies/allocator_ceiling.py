"""How much of the allocator's gap to the oracle is the allocator LM's own? A tree on the same labels.

The allocator learns, from grouped-search labels, which members answer a step. Whether a member
answers is a function of the step's digits, so a gradient-boosted tree (scikit-learn, installed with
mlflow) trained on exactly the same labels, from the operation and the operands' digits, shows what
those labels allow. Both are read the same way: P(label <= m) estimates P(m answers the step), and
a threshold picks the cheapest member that reaches it (reasoning/router.py cheapest_likely).

A third allocator, **memory + tree**, bounds what any learner of these labels could do. The labels
are a function of the step (a member's greedy answer depends on the step's text alone), so it answers
every step it has a label for with that label, as a perfect memoriser would, and reads the tree for
the rest. **memory + allocator LM** reads the LM for the rest instead: what the LM would give if it
remembered every step it was trained on (how much it does remember is printed too).
`--extra-questions N` adds the oracle labels (the cheapest member that answers) of N fresh questions,
drawn after the dev split from its stream (in no split), to what the tree and the memory learn from: how far more training questions
could move that bound. `--taus` adds, for every allocator and rule, the pipeline's recheck at tau
on top (confidence_cascade.py's `climb`): what the better allocators would give with the
executing member's confidence read too.

Printed: per bucket the share of steps with a label (seen in training); per (member, bucket) pair
where the choice is hard, the AUC of each model's P(member answers) against whether it does; then the
accuracy-cost frontiers (pool cost relative to the dearest member, router tokens excluded) beside
the step-level oracle and the dearest member alone. Run on `dev` (data_generation's world_dev) or
validation; the tree and the memory are diagnostics, not routers of the pipeline (R2's allocator is
an LM).

Usage, from the project root after `kedro run`:
    python studies/allocator_ceiling.py [--split dev] [--rules cheapest_likely:0.93,escalate:0.99]
        [--extra-questions N] [--taus 0.7,0.85] [allocator folder]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from r2_pipeline.analysis import (
    SPLITS,
    allocator_outputs,
    cascade,
    choose,
    confidence_words,
    confidences,
    fresh_questions,
    member_outcomes,
    model_folders,
    outcomes_of,
    parse_rules,
    parse_taus,
    readings,
    score,
)
from r2_pipeline.arguments import whole
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.local import trained_router
from r2_pipeline.reasoning.router import member_probabilities
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK

PAIRS = [("t2", 2), ("t3", 2), ("t3", 3), ("t4", 3), ("t4", 4)]
RULES = "cheapest_likely:0.9,cheapest_likely:0.93,cheapest_likely:0.95"


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


def extra_labels(root: Path, questions: int) -> pd.DataFrame:
    """`filled` and `label` for the reference steps of `questions` fresh questions drawn after the dev
    split, labelled with the cheapest member that answers each (the dearest when none does)."""
    if questions == 0:
        return pd.DataFrame({"filled": [], "label": []})
    steps = outcomes_of(root, fresh_questions(root, questions))[0]
    return pd.DataFrame({"filled": steps["filled"], "label": steps["oracle"]})


def memory(labels: pd.DataFrame) -> dict[str, str]:
    """The most frequent label of every labelled step, by the allocator prompt it is read from
    (members sample, so one step labelled twice may get two labels; ties: the cheaper-named first)."""
    keys = [TASK.allocator_prompt("", [], filled) for filled in labels["filled"]]
    counts = pd.DataFrame({"key": keys, "label": list(labels["label"])}).value_counts().reset_index()
    counts = counts.sort_values(["key", "count", "label"], ascending=[True, False, True])
    return dict(zip(counts.drop_duplicates("key")["key"], counts.drop_duplicates("key")["label"]))


def recall(folder: str, table: dict[str, str], ladder: list[str]) -> tuple[float, float]:
    """How much of its own training set the allocator LM remembers: over the distinct training steps,
    the share whose most likely member is the label, and the share given P(label) >= 0.99."""
    outs = trained_router(folder).generate(list(table), SamplingParams(max_new_tokens=4, top_logprobs=len(ladder)))
    probs = [member_probabilities(o.top_logprobs, ladder) for o in outs]
    top = sum(max(p, key=p.get) == label for p, label in zip(probs, table.values()) if p)
    sure = sum(p.get(label, 0.0) >= 0.99 for p, label in zip(probs, table.values()))
    return top / len(table), sure / len(table)


def main(folder: str, split: str, rules: list, extra_questions: int = 0, taus: list[float] = ()) -> None:
    root = Path.cwd()
    steps, ladder = member_outcomes(root, split)
    labels = pd.read_parquet(root / "data/03_primary/allocation_labels.parquet")[["filled", "label"]]
    # the tree reads one operation's digits: compound subtasks (merged plans) are left out
    labels = labels[[micro.parse_expression(f) is not None for f in labels["filled"]]]
    extra = extra_labels(root, extra_questions)
    learned = pd.concat([labels, extra], ignore_index=True)
    tree = HistGradientBoostingClassifier(max_iter=500, learning_rate=0.1, categorical_features=[0], random_state=0)
    tree.fit(digit_features(learned["filled"]), learned["label"])
    tree_probs = [dict(zip(tree.classes_, p)) for p in tree.predict_proba(digit_features(steps["filled"]))]
    table = memory(labels)
    distinct = len(table)
    top, sure = recall(folder, table, ladder)
    for key, label in memory(extra).items():  # the pipeline's own label first, where both have one
        table.setdefault(key, label)
    remembered = [table.get(TASK.allocator_prompt("", [], f)) for f in steps["filled"]]
    memory_probs = [{label: 1.0} if label else p for label, p in zip(remembered, tree_probs)]
    lm_probs, lm_named = readings(allocator_outputs(folder, steps, ladder), ladder)
    lm_memory_probs = [{label: 1.0} if label else p for label, p in zip(remembered, lm_probs)]

    print(f"{len(steps)} reference steps of {steps['id'].nunique()} {split} questions; the allocator LM learned "
          f"from {len(labels)} allocation labels, the tree and the memory from {len(learned)} "
          f"({len(extra)} of {extra_questions} extra questions)")
    print(f"The allocator LM on its {len(labels)} training labels ({distinct} distinct steps): the label is its "
          f"most likely member for {top:.3f} of them, and has P >= 0.99 for {sure:.3f}\n")
    seen = pd.Series([label is not None for label in remembered], index=steps.index).groupby(steps["bucket"]).mean()
    print("| bucket | " + " | ".join(str(b) for b in seen.index) + " |\n|---|" + "---|" * len(seen))
    print("| steps with a label | " + " | ".join(f"{v:.2f}" for v in seen) + " |\n")
    print("| member | bucket | steps | member answers | AUC, allocator LM | AUC, tree | AUC, memory + tree |")
    print("|---|---|---|---|---|---|---|")
    for member, bucket in PAIRS:
        rows = (steps["bucket"] == bucket).to_numpy()
        answers = steps.loc[rows, member].astype(int)
        if answers.nunique() < 2:
            continue
        aucs = [roc_auc_score(answers, [p for p, r in zip(cumulative(probs, ladder, member), rows) if r])
                for probs in (lm_probs, tree_probs, memory_probs)]
        print(f"| {member} | {bucket} | {rows.sum()} | {answers.mean():.3f} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |")

    buckets = sorted(steps["bucket"].unique())
    print("\n| allocator | rule | accuracy | pool cost vs dearest | " + " | ".join(f"bucket {b}" for b in buckets) + " |")
    print("|---|---|---|---|" + "---|" * len(buckets))
    print("| - | oracle | " + " | ".join(score(steps, ladder, list(steps["oracle"]))) + " |")
    print(f"| - | {ladder[-1]} alone | " + " | ".join(score(steps, ladder, [ladder[-1]] * len(steps))) + " |")
    lm_memory_named = [label or named for label, named in zip(remembered, lm_named)]
    allocators = (("allocator LM", lm_probs, lm_named),
                  ("memory + allocator LM", lm_memory_probs, lm_memory_named),
                  ("tree", tree_probs, [max(p, key=p.get) for p in tree_probs]),
                  ("memory + tree", memory_probs, [max(p, key=p.get) for p in memory_probs]))
    for name, probs, named in allocators:
        for rule in rules:
            print(f"| {name} | {rule} | " + " | ".join(score(steps, ladder, choose(rule, probs, named, ladder)))
                  + " |")
    if not taus:
        return
    conf = confidences(root, steps, ladder)
    print(f"\nWith the pipeline's recheck at tau (a step whose confidence, {confidence_words(root)}, is below tau climbs one "
          "rung, every call paid):\n\n| allocator | rule | tau | accuracy | pool cost vs dearest | steps asked again |\n"
          "|---|---|---|---|---|---|")
    for name, probs, named in allocators:
        for rule in rules:
            choice = choose(rule, probs, named, ladder)
            for tau in taus:
                accuracy, cost, again = cascade(steps, conf, ladder, choice, tau, "climb")
                print(f"| {name} | {rule} | {tau} | {accuracy:.3f} | {cost:.3f} | {again:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default="data/06_models/allocator_sft")
    parser.add_argument("--split", default="dev", choices=SPLITS)
    parser.add_argument("--rules", type=parse_rules, default=RULES,
                        help="comma-separated: greedy, cheapest_likely:<p>, escalate:<p>")
    parser.add_argument("--extra-questions", type=whole, default=0,
                        help="oracle labels of this many fresh questions (drawn after dev) for the tree and the memory")
    parser.add_argument("--taus", type=parse_taus, default=[],
                        help="comma-separated confidence thresholds in (0, 1]: also the recheck cascade at each")
    args = parser.parse_args()
    model_folders(parser, [args.folder])
    main(args.folder, args.split, args.rules, args.extra_questions, args.taus)
