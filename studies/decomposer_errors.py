"""Where a trained decomposer's plans go wrong, against the reference plans of a micro split (default test).

Each question is decomposed greedily (one batch) and its plan compared with the reference:
exact, unparseable, wrong number of steps, or the first differing step has a wrong operation, a
wrong left or a wrong right operand. Exact plans bound what any allocation can reach.

Usage, from the project root after `kedro run`:
    python studies/decomposer_errors.py [--split dev] [--show N] [decomposer folder ...]
(default: the test split, 3 examples, data/06_models/decomposer_sft). Compare decomposers on the
dev or validation split, then read the test split once.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from r2_pipeline.analysis import SPLITS, model_folders, read_split
from r2_pipeline.arguments import whole
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.local import trained_router
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK


def category(plan: list[str] | None, reference: list[str]) -> str:
    if plan == reference:
        return "exact"
    if plan is None:
        return "unparseable"
    if len(plan) != len(reference):
        return "step count"
    for got, want in zip(plan, reference):
        if got != want:
            got_step, want_step = micro.EXPR.match(got), micro.EXPR.match(want)
            if not got_step or not want_step:
                return "not one operation"
            for part, name in ((2, "operation"), (1, "left operand"), (3, "right operand")):
                if got_step.group(part) != want_step.group(part):
                    return name
    return "exact"


def main(folder: str, show: int, split: str = "test") -> None:
    examples = TASK.load(read_split(Path.cwd(), split))
    questions = [e.question for e in examples]
    references = [e.meta["subtasks"] for e in examples]
    outs = trained_router(folder).generate([TASK.decomposer_prompt(q) for q in questions],
                                           SamplingParams(max_new_tokens=64))
    plans = [TASK.parse_plan(o.text, q) for o, q in zip(outs, questions)]
    counts = Counter(category(p, r) for p, r in zip(plans, references))
    print(f"{folder}: {len(plans)} {split} questions\n\n| plan | questions | share |\n|---|---|---|")
    for name, n in counts.most_common():
        print(f"| {name} | {n} | {n / len(plans):.3f} |")
    wrong = [(q, r, p) for q, r, p in zip(questions, references, plans) if p != r]
    for question, reference, plan in wrong[:show]:
        print(f"\n{question}\n  reference: {reference}\n  plan:      {plan}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="*", default=["data/06_models/decomposer_sft"])
    parser.add_argument("--split", default="test", choices=SPLITS)
    parser.add_argument("--show", type=whole, default=3, help="wrong plans to print")
    args = parser.parse_args()
    model_folders(parser, args.folders)
    for path in args.folders:
        main(path, args.show, args.split)
