"""How cheap can any router be on this pool? The step-level oracle floor on the micro test split.

Every step of every test question's reference plan, with the exact earlier values substituted, is
answered by every pool member (batched, through the call cache). The oracle sends each step to the
cheapest member that answers it exactly (to the dearest when none does). Its cost relative to the
dearest member doing every step is a floor for every router that keeps the dearest member's
accuracy: a router can only be cheaper by getting steps wrong.

Usage, from the project root after `kedro run` (model_pool and data_generation):
    python benchmarks/oracle_floor.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from r2_pipeline.paths import rooted
from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.factory import ladder_order, pool_from_params
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK


def reference_steps(world: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for example in TASK.load(world):
        steps = micro.filled_subtasks(example.meta["subtasks"])
        for k, ((filled, value), bucket) in enumerate(zip(steps, example.meta["buckets"])):
            rows.append({"id": example.id, "step": k, "bucket": bucket, "filled": filled, "value": value})
    return pd.DataFrame(rows)


DEV_SIZE = 3000


def dev_world(root: Path, size: int = DEV_SIZE) -> pd.DataFrame:
    """`size` fresh questions of the micro world, drawn after every configured split (extra training
    questions included), so no pipeline stage has seen them. Validation has 300 questions: one
    question is 0.3 points there, too coarse to choose between allocators; a dev set of 3000 is not."""
    from r2_pipeline.pipelines.data_generation.nodes import generate_world

    params = yaml.safe_load((root / "conf/base/parameters_data_generation.yml").read_text())["data_generation"]
    world = params["world"]
    params["world"] = {**world, "extra_train": world.get("extra_train", 0) + size}
    train, _, _ = generate_world(params)
    dev = train.iloc[len(train) - size:].reset_index(drop=True)
    check_unseen(dev, root / "data/01_raw/world_train.parquet")
    return dev


def check_unseen(dev: pd.DataFrame, world_train: Path) -> None:
    """The dev set is drawn after conf/base's splits; a pipeline run with more training questions
    (`--params data_generation.world.extra_train=N`, or another env) trains on some of those very
    questions, and every number read on `dev` would be a training-set number. Refuse that."""
    if not world_train.exists():
        return
    seen = set(pd.read_parquet(world_train, columns=["question"])["question"])
    overlap = int(dev["question"].isin(seen).sum())
    if overlap:
        raise SystemExit(
            f"{overlap} of the {len(dev)} dev questions are in {world_train}: the pipeline was run with more "
            "training questions than conf/base/parameters_data_generation.yml says (data_generation.world."
            "extra_train). Set extra_train there to the value the run used, so the dev set is drawn after them")


def split_world(root: Path, split: str) -> pd.DataFrame:
    """A world split written by data_generation, or `dev` (`dev_world`)."""
    if split == "dev":
        return dev_world(root)
    return pd.read_parquet(root / f"data/01_raw/world_{split}.parquet")


def member_outcomes(root: Path, split: str = "test") -> tuple[pd.DataFrame, list[str]]:
    """The reference steps of a world split (or `dev`) with, per member, whether it answers each exactly
    (`<member>`) and what it cost (`<member>_cost`), and the oracle's member and cost; plus the ladder,
    cheapest first."""
    return outcomes_of(root, split_world(root, split))


def evaluation_params(root: Path) -> dict:
    """conf/base's `evaluation` block: how members are asked (`sampling`) and read (`router`)."""
    return yaml.safe_load((root / "conf/base/parameters_evaluation.yml").read_text())["evaluation"]


def micro_pool(root: Path) -> tuple[ModelPool, list[str]]:
    """The trained micro pool of `conf/base`, through the project's call cache, and its ladder."""
    pool_params = yaml.safe_load((root / "conf/base/parameters_pool.yml").read_text())["pool"]
    pool_params["cache_path"] = str(root / "data/cache/calls.sqlite")
    manifest = json.loads((root / "data/06_models/pool_manifest.json").read_text())
    with rooted(root):  # trained members' folders are relative to the project root
        return pool_from_params(manifest, pool_params), ladder_order(pool_params)


def outcomes_of(root: Path, world: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """`member_outcomes` for the reference steps of any micro world frame."""
    pool, ladder = micro_pool(root)
    steps = reference_steps(world)
    prompts = [micro.member_prompt(f) for f in steps["filled"]]
    sampling = SamplingParams(**evaluation_params(root)["sampling"])  # as the evaluation asks members
    for member in ladder:
        outs = pool.generate(member, prompts, sampling)
        steps[member] = [micro.parse_member_answer(p, o.text) == v for p, o, v in zip(prompts, outs, steps["value"])]
        steps[f"{member}_cost"] = [pool.cost(member, o) for o in outs]
    cheapest = [next((m for m in ladder if row[m]), ladder[-1]) for _, row in steps.iterrows()]
    steps["oracle"] = cheapest
    steps["oracle_cost"] = [row[f"{m}_cost"] for m, (_, row) in zip(cheapest, steps.iterrows())]
    return steps, ladder


def main(root: Path) -> None:
    steps, ladder = member_outcomes(root)
    largest = ladder[-1]

    print(f"{len(steps)} steps of {steps['id'].nunique()} test questions (reference plans, exact earlier values)\n")
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
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd())
