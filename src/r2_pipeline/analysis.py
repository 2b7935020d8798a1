"""What the scripts in studies/ share: a micro split's reference steps answered by every pool member,
an allocator's readings of those steps, its decoding rules, and the scores and the confidence cascade
read off them. Each function reads the project at `root` (conf/base and what `kedro run` wrote)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .arguments import count, numbers
from .methods.decoding import Decoding
from .paths import rooted
from .pool.base import SamplingParams
from .pool.factory import ladder_order, pool_from_params
from .pool.local import trained_router
from .pool.pool import ModelPool
from .reasoning.execute import answer_confidence
from .reasoning.router import (
    ALLOCATOR_RULES,
    member_probabilities,
    read_allocation,
    validate_member,
)
from .tasks import micro
from .tasks.micro.task import TASK

SPLITS = ("train", "validation", "test", "dev")


# ---------------------------------------------------------------- the project's files


def conf(root: Path, block: str) -> dict:
    """A conf/base parameter block (`conf/base/parameters_<block>.yml`)."""
    return yaml.safe_load((root / f"conf/base/parameters_{block}.yml").read_text())[block]


def split_path(root: Path, split: str) -> Path:
    """Where the catalog writes a world split (`world_<split>` under globals' `paths.raw`)."""
    raw = yaml.safe_load((root / "conf/base/globals.yml").read_text())["paths"]["raw"]
    return root / raw / f"world_{split}.parquet"


def read_split(root: Path, split: str) -> pd.DataFrame:
    """A world split data_generation wrote: train, validation, test or dev."""
    path = split_path(root, split)
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `kedro run --pipelines data_generation` (or `dvc repro "
                         "data_generation`) first")
    return pd.read_parquet(path)


def fresh_questions(root: Path, count: int) -> pd.DataFrame:
    """`count` questions drawn after the dev split from its stream (data_generation's `generate_dev`),
    so in no split. Refused when conf/base does not give back the dev split on disk: the run that
    wrote it had other parameters, and the draw would not be the one after it."""
    from .pipelines.data_generation.nodes import generate_dev

    params = conf(root, "data_generation")
    world = params["world"]
    dev = read_split(root, "dev")
    splits = [read_split(root, s) for s in ("train", "validation", "test")]
    grown = {**params, "world": {**world, "sizes": {**world["sizes"], "dev": len(dev) + count}}}
    drawn = generate_dev(*splits, grown)
    if list(drawn["question"].head(len(dev))) != list(dev["question"]):
        raise SystemExit(f"conf/base/parameters_data_generation.yml does not draw the dev split in "
                         f"{split_path(root, 'dev')}: set data_generation.world there as the run that wrote it had it")
    return drawn.iloc[len(dev):].reset_index(drop=True)


def micro_pool(root: Path) -> tuple[ModelPool, list[str]]:
    """The trained micro pool of conf/base, through the project's call cache, and its ladder."""
    pool_params = conf(root, "pool")
    pool_params["cache_path"] = str(root / "data/cache/calls.sqlite")
    manifest = json.loads((root / "data/06_models/pool_manifest.json").read_text())
    with rooted(root):  # trained members' folders are relative to the project root
        return pool_from_params(manifest, pool_params), ladder_order(pool_params)


def member_sampling(root: Path, **extra) -> SamplingParams:
    """How the evaluation asks a member for a step (conf/base's `evaluation.sampling`)."""
    return SamplingParams(**{**(conf(root, "evaluation").get("sampling") or {}), **extra})


# ---------------------------------------------------------------- members on reference steps


def reference_steps(world: pd.DataFrame) -> pd.DataFrame:
    """One row per step of each question's reference plan, earlier values substituted exactly:
    `id`, `step`, `bucket`, `filled` (the step a member reads) and `value` (its exact answer)."""
    rows = []
    for example in TASK.load(world):
        steps = micro.filled_subtasks(example.meta["subtasks"])
        for k, ((filled, value), bucket) in enumerate(zip(steps, example.meta["buckets"])):
            rows.append({"id": example.id, "step": k, "bucket": bucket, "filled": filled, "value": value})
    return pd.DataFrame(rows)


def outcomes_of(root: Path, world: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The reference steps of `world` with, per member, whether it answers each exactly (`<member>`)
    and what that cost (`<member>_cost`), and the oracle (the cheapest member that answers, the
    dearest when none does) with its cost; plus the ladder, cheapest first. One batch per member."""
    pool, ladder = micro_pool(root)
    steps = reference_steps(world)
    prompts = [micro.member_prompt(f) for f in steps["filled"]]
    sampling = member_sampling(root)
    for member in ladder:
        outs = pool.generate(member, prompts, sampling)
        steps[member] = [micro.parse_member_answer(p, o.text) == v for p, o, v in zip(prompts, outs, steps["value"])]
        steps[f"{member}_cost"] = [pool.cost(member, o) for o in outs]
    cheapest = [next((m for m in ladder if row[m]), ladder[-1]) for _, row in steps.iterrows()]
    steps["oracle"] = cheapest
    steps["oracle_cost"] = [row[f"{m}_cost"] for m, (_, row) in zip(cheapest, steps.iterrows())]
    return steps, ladder


def member_outcomes(root: Path, split: str) -> tuple[pd.DataFrame, list[str]]:
    """`outcomes_of` a world split data_generation wrote."""
    return outcomes_of(root, read_split(root, split))


# ---------------------------------------------------------------- an allocator and its decoding rules


def allocator_outputs(folder: str, steps: pd.DataFrame, ladder: list[str]) -> list:
    """The allocator's completion for every step, one batch, with its top tokens over the ladder."""
    return trained_router(folder).generate([TASK.allocator_prompt("", [], f) for f in steps["filled"]],
                                           SamplingParams(max_new_tokens=4, top_logprobs=len(ladder)))


def readings(outputs: list, ladder: list[str]) -> tuple[list[dict[str, float]], list[str]]:
    """Per allocator output, its probabilities over the members and the member it names (the
    dearest when it names none)."""
    return ([member_probabilities(o.top_logprobs, ladder) for o in outputs],
            [validate_member(o.text, ladder) or ladder[-1] for o in outputs])


class Rule(Decoding):
    """A decoding as a study's `--rules` writes it: `greedy`, `cheapest_likely:0.9`, `escalate:0.99`."""

    def __str__(self) -> str:
        return self.rule if self.rule == "greedy" else f"{self.rule}:{self.min_success:g}"


def parse_rules(text: str) -> list[Rule]:
    """`greedy,cheapest_likely:0.9,escalate:0.99` -> Rules, for an argparse `type`."""
    rules = []
    for part in text.split(","):
        name, _, value = part.strip().partition(":")
        try:
            rules.append(Rule(rule=name, min_success=float(value) if value else None))
        except ValueError:  # pydantic's ValidationError too
            raise argparse.ArgumentTypeError(
                f"rule {part!r}: write greedy or <rule>:<p> with rule one of {list(ALLOCATOR_RULES)} and p in "
                "(0, 1], e.g. cheapest_likely:0.9") from None
    return rules


def choose(rule: Rule, probs: list[dict[str, float]], named: list[str], ladder: list[str]) -> list[str]:
    """One member per step under `rule`, as the pipeline reads its allocator (router.read_allocation)."""
    if rule.rule == "greedy":
        return list(named)
    return [read_allocation(p, n, ladder, rule.min_success, rule.rule) for p, n in zip(probs, named)]


def score(steps: pd.DataFrame, ladder: list[str], choice: list[str]) -> list[str]:
    """Question accuracy (right when all its steps are), pool cost relative to the dearest member on
    every step, and per bucket the step accuracy and share sent to the dearest member."""
    picked = pd.DataFrame({
        "id": steps["id"], "bucket": steps["bucket"], "dearest": [c == ladder[-1] for c in choice],
        "right": [steps.at[i, c] for i, c in zip(steps.index, choice)],
        "cost": [steps.at[i, f"{c}_cost"] for i, c in zip(steps.index, choice)],
    })
    accuracy = picked.groupby("id")["right"].all().mean()
    cost = picked["cost"].sum() / steps[f"{ladder[-1]}_cost"].sum()
    buckets = [f"{g['right'].mean():.3f} / {g['dearest'].mean():.2f}" for _, g in picked.groupby("bucket")]
    return [f"{accuracy:.3f}", f"{cost:.3f}", *buckets]


# ---------------------------------------------------------------- the executing member's confidence


def recheck_alpha(root: Path) -> float:
    """The quantile of an answer's token probabilities the pipeline's recheck reads
    (conf/base's `evaluation.router.recheck_alpha`; 0, the lowest, when unset)."""
    return float((conf(root, "evaluation").get("router") or {}).get("recheck_alpha", 0.0))


def confidence_words(root: Path) -> str:
    """What `confidences` reads, in words, for printed tables."""
    alpha = recheck_alpha(root)
    return "the answer's lowest token probability" if alpha == 0 else f"the {alpha}-quantile of the answer's token probabilities"


def confidences(root: Path, steps: pd.DataFrame, ladder: list[str]) -> pd.DataFrame:
    """Per member, its answer confidence on every step (`<member>`) and the value it parses to
    (`<member>_value`): one batch per member, asked for log-probabilities with the evaluation's
    member sampling and read at `recheck_alpha`, as the pipeline's recheck asks and reads it."""
    pool, _ = micro_pool(root)
    prompts = [micro.member_prompt(f) for f in steps["filled"]]
    sampling, alpha = member_sampling(root, logprobs=True), recheck_alpha(root)
    out = pd.DataFrame(index=steps.index)
    for member in ladder:
        answers = pool.generate(member, prompts, sampling)
        out[member] = [answer_confidence(a.token_logprobs, alpha) for a in answers]
        out[f"{member}_value"] = [TASK.parse_subtask(p, a.text) for p, a in zip(prompts, answers)]
    return out


def cascade(steps: pd.DataFrame, conf: pd.DataFrame, ladder: list[str], choice: list[str], tau: float,
            mode: str) -> tuple[float, float, float]:
    """Question accuracy, pool cost vs the dearest member, and share of steps asked again, when an
    answer below confidence `tau` is asked again. `mode`: `climb` (one rung up while unsure, as the
    pipeline's recheck), `agree` (the same, but an unsure answer with the rung below's value stands,
    as recheck_agree), `top` (straight to the dearest member)."""
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


def parse_taus(text: str) -> list[float]:
    """`0.7,0.85` -> [0.7, 0.85]: confidence thresholds, each in (0, 1], for an argparse `type`."""
    return numbers(text, "taus", "every tau must be in (0, 1]", lambda t: 0 < t <= 1, "numbers in (0, 1]")


# ---------------------------------------------------------------- the studies' options


def parse_lambdas(text: str) -> list[float]:
    """`--lambdas 0.2,0.5,1` -> [0.2, 0.5, 1.0]; each must be >= 0."""
    return numbers(text, "lambdas", "every lambda must be >= 0", lambda v: v >= 0)


def model_folders(parser: argparse.ArgumentParser, folders: Sequence[str]) -> None:
    """Refuse (through `parser`) a model folder that is not there, before any pool member answers:
    a study reads its models only after the members' outcomes, minutes in."""
    missing = [f for f in folders if not (Path(f) / "config.json").is_file()]
    if missing:
        parser.error(f"no trained model in {missing} (a folder with config.json): run `kedro run` first, or "
                     "check the path")


def rate_arguments(parser: argparse.ArgumentParser, split: str = "test", questions: int = 500
                   ) -> argparse.ArgumentParser:
    """The options of a study that measures success rates on a split's questions: --split,
    --questions (the first n), --samples (per subtask and member) and --lambdas."""
    parser.add_argument("--split", default=split, choices=SPLITS)
    parser.add_argument("--questions", type=count, default=questions)
    parser.add_argument("--samples", type=count, default=16, help="samples per subtask and member")
    parser.add_argument("--lambdas", type=parse_lambdas, default=[0.2, 0.5, 1.0], help="comma-separated, e.g. 0.2,0.5,1")
    return parser
