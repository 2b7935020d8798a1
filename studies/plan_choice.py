"""Is the granularity choice real? The best plan per question on the trained pool's success rates.

Every plan of a question (each reference step alone, or two adjacent additive steps merged into
one compound subtask) is scored with each member's success rate and cost measured from `--samples`
samples per subtask (labels/expected.py), at each lambda; the best plan and members maximise the
expected `accuracy - lambda * cost / cost(largest)`, router calls included (a decomposer call per
plan, an allocator call per subtask, priced as `pool.router_member` with the trained router's
tokenizers when `--router` names its folders). The table gives, per lambda, the share of questions
whose best plan merges at least one pair, the share whose best plan is all single steps, and the
share where merging is possible at all.

Usage, from the project root after `kedro run` (model_pool and data_generation; the routers after
training):
    python studies/plan_choice.py [--split train] [--questions 1000] [--samples 16] [--lambdas 0.2,0.5,1]
        [--router data/06_models/decomposer_sft,data/06_models/allocator_sft]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from r2_pipeline.analysis import conf, micro_pool, model_folders, rate_arguments, read_split, rooted
from r2_pipeline.labels.expected import measure_rates, plan_space
from r2_pipeline.methods.idealised import RouterCharge, expected_choices
from r2_pipeline.reasoning.context import MethodContext
from r2_pipeline.tasks.micro.task import TASK


def charge(root: Path, router: str | None, ladder: list[str]) -> RouterCharge | None:
    if not router:
        return None
    from r2_pipeline.pool.local import trained_router

    decomposer, allocator = router.split(",")
    pool = conf(root, "pool")
    with rooted(root):
        routers = {"r2": (trained_router(decomposer), trained_router(allocator))}
    context = MethodContext(routers=routers, router_price=pool["prices"][pool["router_member"]], final_router="r2",
                            ladder=ladder)
    return RouterCharge(context, TASK)


def main(split: str, questions: int, samples: int, lambdas: list[float], router: str | None) -> None:
    root = Path.cwd()
    examples = TASK.load(read_split(root, split).head(questions))
    pool, ladder = micro_pool(root)
    spaces = [plan_space(TASK.reference_subtasks(e)) for e in examples]
    rates = measure_rates(pool, [f for space in spaces for _, filled in space for f in filled], samples, ladder)
    mergeable = sum(len(space) > 1 for space in spaces) / len(spaces)
    print(f"{len(examples)} {split} questions, {samples} samples per subtask and member; merging possible in "
          f"{mergeable:.3f} of them\n")
    print("| lambda | best plan merged | best plan all single | expected accuracy | expected cost / largest |")
    print("|---|---|---|---|---|")
    router_charge = charge(root, router, ladder)
    for lam in lambdas:
        choices = expected_choices(pool, TASK, examples, ladder, lam, samples, router_charge, rates)
        largest = sum(sum(rates.cost(ladder[-1], f) for f in space[0][1]) for space in spaces)
        merged = sum(c.merged for c in choices) / len(choices)
        single = sum(not c.merged for c in choices) / len(choices)
        accuracy = sum(c.accuracy for c in choices) / len(choices)
        print(f"| {lam:g} | {merged:.3f} | {single:.3f} | {accuracy:.3f} | "
              f"{sum(c.cost for c in choices) / largest:.3f} |")


if __name__ == "__main__":
    parser = rate_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]), "train", 1000)
    parser.add_argument("--router", default=None, help="decomposer,allocator folders of a trained router")
    args = parser.parse_args()
    if args.router is not None:
        if len(args.router.split(",")) != 2:
            parser.error(f"--router {args.router!r}: write the decomposer's and the allocator's folders, comma-separated")
        model_folders(parser, args.router.split(","))
    main(args.split, args.questions, args.samples, args.lambdas, args.router)
