"""How much the router's price assumption matters: each router method's cost relative to single:t5
with the router's tokens priced as each pool member in turn, next to the models' parameter counts.

The micro profile prices the router's tokens like the cheapest tier (`pool.prices.router`). By
parameter count the decomposer is the largest model in the system, and it reads the whole question
while a member reads one 8-token step, so this assumption carries much of the result. Stored token
counts make the table free: no model is rerun.

Usage, from the project root after `kedro run`:
    python studies/router_price.py
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import yaml
from safetensors import safe_open

RESULTS = "data/07_model_output/evaluation_results.parquet"
MODELS = Path("data/06_models")


def parameters(folder: Path) -> int | None:
    """Parameter count of a saved Hugging Face folder (from its safetensors header, no weights)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for file in files:
        with safe_open(file, "pt") as tensors:
            total += sum(math.prod(tensors.get_slice(name).get_shape()) for name in tensors.keys())
    return total


def main() -> None:
    prices = yaml.safe_load(open("conf/base/parameters_pool.yml"))["pool"]["prices"]
    members = [m for m in prices if m != "router"]
    results = pd.read_parquet(RESULTS)
    largest = results[results["method"] == "single:t5"]["cost_usd"].sum()

    sizes = {m: parameters(MODELS / "pool" / m) for m in members}
    sizes.update(decomposer=parameters(MODELS / "decomposer_sft"), allocator=parameters(MODELS / "allocator_sft"))
    print("| model | parameters |\n|---|---|")
    for name, n in sizes.items():
        print(f"| {name} | {n if n is not None else 'n/a'} |")

    print("\nCost relative to single:t5, router tokens priced as:\n")
    print("| method | accuracy | router tokens in / out | " + " | ".join(["configured router", *members]) + " |")
    print("|---|---|---|" + "---|" * (len(members) + 1))
    for method, rows in results[results["router_prompt_tokens"] > 0].groupby("method", sort=False):
        pool = rows["pool_cost_usd"].sum()
        tin, tout = rows["router_prompt_tokens"].sum(), rows["router_completion_tokens"].sum()
        costs = [rows["cost_usd"].sum() / largest]
        for m in members:
            router = (tin * prices[m]["input_per_m"] + tout * prices[m]["output_per_m"]) / 1e6
            costs.append((pool + router) / largest)
        print(f"| {method} | {rows['correct'].mean():.3f} | {tin} / {tout} | " + " | ".join(f"{c:.3f}" for c in costs) + " |")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    main()
