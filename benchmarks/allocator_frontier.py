"""A trained allocator alone: its accuracy-cost frontier on the reference plans of the micro test split.

Every pool member answers every reference step once (one batch per member, through the call cache);
the allocator reads each step once with its top tokens. Each decoding rule (greedy, then
`min_success` thresholds) then picks a member per step, and a question is right when all its steps
are. Cost is the pool's, relative to single:t5 on the same steps (router tokens excluded: they do
not depend on the rule). Per bucket: the steps answered right and the share sent to t5, against the
step-level oracle. This separates allocation from the decomposer's errors.

Usage, from the project root after `kedro run`:
    python benchmarks/allocator_frontier.py [allocator folder ...]
(default: data/06_models/allocator_sft)
"""

from __future__ import annotations

import json
import sys

import numpy as np
import yaml

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.factory import ladder_order, pool_from_params
from r2_pipeline.pool.local import TransformersBackend
from r2_pipeline.reasoning.router import cheapest_likely, member_probabilities, validate_member
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro_task import TASK

RULES = [None, 0.8, 0.9, 0.95]


def main(folders: list[str]) -> None:
    params = yaml.safe_load(open("conf/base/parameters_pool.yml"))["pool"]
    params["cache_path"] = "data/cache/calls.sqlite"
    pool = pool_from_params(json.load(open("data/06_models/pool_manifest.json")), params)
    ladder = ladder_order(params)
    steps = [(q, filled, value) for q, e in enumerate(TASK.load("data/01_raw/world_test.parquet"))
             for filled, value in micro.filled_subtasks(e.meta["subtasks"])]
    prompts = [micro.member_prompt(filled) for _, filled, _ in steps]
    right, cost = {}, {}
    for member in ladder:
        outs = pool.generate(member, prompts, SamplingParams(max_new_tokens=micro.WIDTH + 1))
        right[member] = np.array([micro.parse_member_answer(p, o.text) == v for p, o, (_, _, v) in zip(prompts, outs, steps)])
        cost[member] = np.array([pool.cost(member, o) for o in outs])
    question = np.array([q for q, _, _ in steps])
    bucket = np.array([micro.parse_expression(f).bucket for _, f, _ in steps])
    largest = cost[ladder[-1]].sum()

    def score(choice: list[str]) -> list[str]:
        ok = np.array([right[m][i] for i, m in enumerate(choice)])
        per_question = np.ones(question.max() + 1, bool)
        np.logical_and.at(per_question, question, ok)
        spent = sum(cost[m][i] for i, m in enumerate(choice)) / largest
        cells = [f"{ok[bucket == b].mean():.3f} / {np.mean([c == ladder[-1] for c in np.array(choice)[bucket == b]]):.2f}"
                 for b in micro.BUCKETS]
        return [f"{per_question.mean():.3f}", f"{spent:.3f}", *cells]

    print(f"{len(steps)} reference steps of {question.max() + 1} test questions; bucket cells: step accuracy / share to {ladder[-1]}\n")
    print("| allocator | rule | accuracy | pool cost vs t5 | " + " | ".join(f"bucket {b}" for b in micro.BUCKETS) + " |")
    print("|---|---|---|---|" + "---|" * len(micro.BUCKETS))
    oracle = [next((m for m in ladder if right[m][i]), ladder[-1]) for i in range(len(steps))]
    print("| - | oracle | " + " | ".join(score(oracle)) + " |")
    for folder in folders:
        outs = TransformersBackend(folder).generate([TASK.allocator_prompt("", [], f) for _, f, _ in steps],
                                                   SamplingParams(max_new_tokens=4, top_logprobs=len(ladder)))
        named = [validate_member(o.text, ladder) or ladder[-1] for o in outs]
        probs = [member_probabilities(o.top_logprobs, ladder) for o in outs]
        for rule in RULES:
            choice = named if rule is None else [cheapest_likely(p, ladder, rule) or n for p, n in zip(probs, named)]
            print(f"| {folder} | {'greedy' if rule is None else f'min_success {rule}'} | " + " | ".join(score(choice)) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["data/06_models/allocator_sft"])
