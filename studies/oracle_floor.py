"""How cheap can any router be on this pool? The step-level oracle floor on a micro split (default test).

Every step of every question's reference plan, with the exact earlier values substituted, is
answered by every pool member (batched, through the call cache). The oracle sends each step to the
cheapest member that answers it exactly (to the dearest when none does). Its cost relative to the
dearest member doing every step is a floor for every router that keeps the dearest member's
accuracy: a router can only be cheaper by getting steps wrong.

Usage, from the project root after `kedro run` (model_pool and data_generation):
    python studies/oracle_floor.py [--split dev]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from r2_pipeline.analysis import SPLITS, member_outcomes


def main(split: str) -> None:
    steps, ladder = member_outcomes(Path.cwd(), split)
    largest = ladder[-1]

    print(f"{len(steps)} steps of {steps['id'].nunique()} {split} questions (reference plans, exact earlier values)\n")
    print("| bucket | share of steps | " + " | ".join(ladder) + " |")
    print("|---" * (len(ladder) + 2) + "|")
    for bucket, group in steps.groupby("bucket"):
        accs = " | ".join(f"{group[m].mean():.3f}" for m in ladder)
        print(f"| {bucket} | {len(group) / len(steps):.3f} | {accs} |")
    print("\n| oracle's member | share of steps |\n|---|---|")
    for member in ladder:
        print(f"| {member} | {(steps['oracle'] == member).mean():.3f} |")
    all_largest = steps[f"{largest}_cost"].sum()
    only_largest = (steps["oracle"] == largest).mean()
    print(f"\noracle cost / {largest} cost: {steps['oracle_cost'].sum() / all_largest:.3f} "
          f"(steps no cheaper member answers: {only_largest:.3f}; router tokens not included)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", default="test", choices=SPLITS)
    main(parser.parse_args().split)
