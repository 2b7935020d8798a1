"""Can the decomposer phase see the granularity choice? Its sampled plans per question, by temperature.

GRPO learns from the differences within a group: the `num_generations` plans sampled for one
question are executed and their rewards compared. A group whose plans all merge the same steps, or
all merge none, says nothing about merging, however its members' answers fall. This study samples
groups from a decomposer as the decomposer phase does (rl_refinement.decomposer.trainer:
`num_generations` and `max_completion_length`; pure sampling at each of `--temperatures`) and gives,
per temperature:

- `distinct`: the mean number of distinct plans in a group (plans parsed as the reward reads them);
- `varied`: the share of groups with more than one plan;
- `choice`: the share of groups holding both a plan that merges two steps into one compound
  subtask and a plan that does not, the groups that can teach when merging pays;
- `merged`: the share of parsed plans that merge;
- `unparsed`: the share of plans that cannot be parsed (the format reward's -1).

Usage, from the project root after `kedro run` (data_generation and decomposer_sft):
    python studies/decomposer_rollouts.py [--decomposer data/06_models/decomposer_sft] [--split train]
        [--questions 256] [--temperatures 1,1.2,1.5] [--generations N] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from r2_pipeline.analysis import SPLITS, conf, model_folders, read_split
from r2_pipeline.arguments import count, numbers
from r2_pipeline.tasks.micro import parse_compound
from r2_pipeline.tasks.micro.task import TASK

BATCH = 64  # questions per generate call


def temperatures(text: str) -> list[float]:
    """`1,1.2` -> [1.0, 1.2]; each must be > 0."""
    return numbers(text, "temperatures", "every temperature must be > 0", lambda v: v > 0)


def sample_plans(folder: str, questions: list[str], generations: int, temperature: float, max_new: int,
                 seed: int) -> list[list[tuple[str, ...] | None]]:
    """`generations` sampled plans per question (None where a plan cannot be parsed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    groups = []
    for start in range(0, len(questions), BATCH):
        batch = questions[start:start + BATCH]
        encoded = tokenizer([TASK.decomposer_prompt(q) for q in batch], return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**encoded, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
                                 max_new_tokens=max_new, num_return_sequences=generations,
                                 pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(out[:, encoded["input_ids"].shape[1]:], skip_special_tokens=True)
        for j, question in enumerate(batch):
            plans = [TASK.parse_plan(t, question) for t in texts[j * generations:(j + 1) * generations]]
            groups.append([None if p is None else tuple(p) for p in plans])
    return groups


def merges(plan: tuple[str, ...]) -> bool:
    return any(parse_compound(subtask) is not None for subtask in plan)


def summary(groups: list[list[tuple[str, ...] | None]]) -> dict[str, float]:
    parsed = [p for g in groups for p in g if p is not None]
    kinds = [{merges(p) for p in g if p is not None} for g in groups]
    return {
        "distinct": sum(len(set(g)) for g in groups) / len(groups),
        "varied": sum(len(set(g)) > 1 for g in groups) / len(groups),
        "choice": sum(len(k) > 1 for k in kinds) / len(groups),
        "merged": sum(merges(p) for p in parsed) / len(parsed) if parsed else 0.0,
        "unparsed": 1 - len(parsed) / sum(len(g) for g in groups),
    }


def main(decomposer: str, split: str, questions: int, grid: list[float], generations: int | None,
         seed: int) -> None:
    root = Path.cwd()
    trainer = conf(root, "rl_refinement")["decomposer"]["trainer"]
    generations = generations or trainer["num_generations"]
    asked = list(read_split(root, split).head(questions)["question"])
    print(f"{len(asked)} {split} questions, groups of {generations} plans from {decomposer} "
          f"(the decomposer phase samples at temperature {trainer['temperature']:g})\n")
    print("| temperature | distinct | varied | choice | merged | unparsed |")
    print("|---|---|---|---|---|---|")
    for temperature in grid:
        row = summary(sample_plans(decomposer, asked, generations, temperature,
                                   trainer["max_completion_length"], seed))
        print(f"| {temperature:g} | {row['distinct']:.2f} | {row['varied']:.3f} | {row['choice']:.3f} | "
              f"{row['merged']:.3f} | {row['unparsed']:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decomposer", default="data/06_models/decomposer_sft")
    parser.add_argument("--split", default="train", choices=SPLITS)
    parser.add_argument("--questions", type=count, default=256)
    parser.add_argument("--temperatures", type=temperatures, default=[1.0, 1.2, 1.5], help="comma-separated, e.g. 1,1.2")
    parser.add_argument("--generations", type=count, default=None,
                        help="plans per group (default: rl_refinement.decomposer.trainer.num_generations)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model_folders(parser, [args.decomposer])
    main(args.decomposer, args.split, args.questions, args.temperatures, args.generations, args.seed)
