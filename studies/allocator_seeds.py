"""How far apart are two allocators trained alike? The allocator's seed-to-seed spread.

Trains the allocator as `allocator_sft` does (its parameters from conf/base, its data from
data/05_model_input/allocator_sft.parquet) once per seed, with optional overrides of the trainer or
backbone settings. A seed is both the trainer's (data order) and, for a tiny backbone, the
initial weights' (`backbone.seed`); `--trainer-seed-only` keeps the weights' seed at the
configured value (the spread then leaves out initialisation). Each allocator is scored alone on a
split's reference plans, as allocator_frontier.py does: question accuracy and pool cost relative to
the dearest member, per decoding rule (`greedy`, `cheapest_likely:<p>`, `escalate:<p>`). Then the mean
and standard deviation over seeds. A change to the allocator is worth more than noise only when it
moves the mean by more than the spread; one run per variant is not enough to tell.

`--init-from-member t4` starts the allocator from a trained pool member instead of a fresh tiny
backbone: the member's weights and tokenizer, with the allocator's extra tokens (`>` and the member
names) added. The member has learnt the very steps whose outcome the allocator predicts. Its weights
are given, so its seeds vary the trainer's seed (data order) only, as `--trainer-seed-only` does.
`--keep DIR` keeps each seed's allocator (DIR/seed_<k>) for other studies to read.

Usage, from the project root after `kedro run` (each seed trains for about two minutes on 2 cores):
    python studies/allocator_seeds.py [--seeds 0,1,2] [--split dev] [--rules cheapest_likely:0.93,escalate:0.99]
        [--set trainer.max_steps=8000 --set backbone.hidden_size=128 ...] [--trainer-seed-only]
        [--init-from-member t4] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from r2_pipeline.analysis import (
    SPLITS,
    allocator_outputs,
    choose,
    conf,
    member_outcomes,
    parse_rules,
    readings,
    score,
)
from r2_pipeline.arguments import whole
from r2_pipeline.pipelines.sft_nodes import fit_sft
from r2_pipeline.training.tiny import save_model

RULES = "cheapest_likely:0.9,cheapest_likely:0.93,cheapest_likely:0.95"


def override(settings: dict, assignments: list[str]) -> dict:
    """`trainer.max_steps=8000` style assignments (values parsed as YAML) on a copy of `settings`."""
    settings = copy.deepcopy(settings)
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {assignment!r}: write block.key=value, e.g. trainer.max_steps=8000")
        *blocks, leaf = key.split(".")
        target = settings
        for block in blocks:
            if not isinstance(target.get(block), dict):
                raise SystemExit(f"--set {assignment!r}: allocator_sft has no block {block!r}")
            target = target[block]
        target[leaf] = parse_value(value)
    return settings


def parse_value(text: str):
    """A `--set` value as Kedro's `--params` reads it: YAML, and a number where YAML 1.1 leaves one
    as text (`3e-4`, an exponent with no dot)."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def check_settings(settings: dict, seed: int, trainer_only: bool) -> None:
    """The settings after --set, validated as `allocator_sft` is before a run: a bad one is named
    now, not after every pool member has answered the split."""
    from pydantic import ValidationError

    from r2_pipeline.methods.spec import describe_error
    from r2_pipeline.training.params import SFTParams

    try:
        SFTParams.model_validate(seeded(settings, seed, trainer_only))
    except ValidationError as err:
        raise SystemExit("invalid allocator_sft settings:\n  "
                         + "\n  ".join(describe_error(e, ("allocator_sft",)) for e in err.errors())) from None


def seeded(settings: dict, seed: int, trainer_only: bool = False) -> dict:
    """The settings with `seed` as the trainer's seed and, unless `trainer_only`, a tiny backbone's
    initialisation seed (a pretrained backbone's weights are given)."""
    out = {**settings, "trainer": {**settings["trainer"], "seed": seed}}
    if not trainer_only and settings["backbone"].get("kind", "tiny") == "tiny":
        out["backbone"] = {**settings["backbone"], "seed": seed}
    return out


def member_backbone(root: Path, member: str, ladder: list[str], folder: Path) -> dict:
    """A pretrained backbone spec for a copy of a trained pool member, its tokenizer extended with the
    tokens allocator prompts and completions use that members never read (`>`, the member names)."""
    from transformers import AutoModelForCausalLM

    from r2_pipeline.pool.local import load_tokenizer

    source = root / "data/06_models/pool" / member
    if member not in ladder or not source.is_dir():
        raise SystemExit(f"--init-from-member {member!r}: no trained pool member of that name under "
                         f"data/06_models/pool (ladder: {ladder})")
    tokenizer, model = load_tokenizer(str(source)), AutoModelForCausalLM.from_pretrained(source)
    tokenizer.add_tokens([">", *ladder])
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"kind": "pretrained", "path": str(folder)}


def main(seeds: list[int], split: str, rules: list, assignments: list[str], trainer_only: bool = False,
         init_member: str | None = None, keep: str | None = None) -> None:
    root = Path.cwd()
    if init_member and any(a.startswith("backbone.") for a in assignments):
        raise SystemExit(f"--init-from-member {init_member} replaces the backbone block: leave out --set backbone.*")
    settings = override(conf(root, "allocator_sft"), assignments)
    for seed in seeds:
        check_settings(settings, seed, trainer_only or bool(init_member))
    data = pd.read_parquet(root / "data/05_model_input/allocator_sft.parquet")
    steps, ladder = member_outcomes(root, split)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if init_member:
            settings["backbone"] = member_backbone(root, init_member, ladder, Path(tmp) / "backbone")
            assignments = [*assignments, f"init from {init_member}"]
        for seed in seeds:
            print(f"training seed {seed}", file=sys.stderr)
            with contextlib.redirect_stdout(io.StringIO()):  # the trainer prints every logging step
                (model, tokenizer), _ = fit_sft(data, seeded(settings, seed, trainer_only))
            folder = str(save_model(model, tokenizer, Path(keep or tmp) / f"seed_{seed}"))
            probs, named = readings(allocator_outputs(folder, steps, ladder), ladder)
            for rule in rules:
                accuracy, cost, *_ = score(steps, ladder, choose(rule, probs, named, ladder))
                rows.append({"seed": seed, "rule": str(rule), "accuracy": float(accuracy), "cost": float(cost)})
    table = pd.DataFrame(rows)

    print(f"{len(steps)} reference steps of {steps['id'].nunique()} {split} questions; allocator_sft "
          f"settings{' with ' + ', '.join(assignments) if assignments else ''}; pool cost relative to {ladder[-1]}\n")
    print("| seed | " + " | ".join(f"{r}: accuracy / cost" for r in rules) + " |")
    print("|---|" + "---|" * len(rules))
    for seed, group in table.groupby("seed"):
        print(f"| {seed} | " + " | ".join(f"{a:.3f} / {c:.3f}" for a, c in zip(group["accuracy"], group["cost"])) + " |")
    cells = []
    for rule in rules:
        group = table[table["rule"] == str(rule)]
        cells.append(" / ".join(f"{group[k].mean():.3f} ± {spread(group[k]):.3f}" for k in ("accuracy", "cost")))
    print("| mean ± sd | " + " | ".join(cells) + " |")


def spread(values: pd.Series) -> float:
    """Sample standard deviation; 0 for a single seed."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", type=lambda s: [whole(x) for x in s.split(",")])
    parser.add_argument("--split", default="dev", choices=SPLITS)
    parser.add_argument("--rules", default=RULES, type=parse_rules,
                        help="comma-separated: greedy, cheapest_likely:<p>, escalate:<p>")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        help="an allocator_sft setting, block.key=value (repeatable)")
    parser.add_argument("--trainer-seed-only", action="store_true",
                        help="vary the trainer's seed only; the tiny backbone starts from the same weights")
    parser.add_argument("--init-from-member", metavar="MEMBER",
                        help="start from this trained pool member's weights and tokenizer (e.g. t4)")
    parser.add_argument("--keep", metavar="DIR",
                        help="save each seed's allocator as DIR/seed_<k> (e.g. for studies/confidence_cascade.py DIR/seed_0)")
    args = parser.parse_args()
    main(args.seeds, args.split, args.rules, args.assignments, args.trainer_seed_only, args.init_from_member,
         args.keep)
