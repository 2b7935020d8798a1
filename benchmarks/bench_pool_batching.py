"""Batched pool generation against a one-prompt-at-a-time loop on the same prompts.

Usage: python benchmarks/bench_pool_batching.py [model folder] [n prompts]
Without a folder it trains a small micro tier first (about a minute).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.local import TransformersBackend
from r2_pipeline.tasks import micro


def prompts(n: int) -> list[str]:
    rng = random.Random(0)
    steps = [micro.sample_bucket_step(rng.choice(micro.BUCKETS), rng) for _ in range(n)]
    return [micro.member_prompt(f"{s.left} {s.op} {s.right}") for s in steps]


def model_folder() -> str:
    from r2_pipeline.training.ladder import train_tier
    from r2_pipeline.training.tiny import save_model

    model, tokenizer, _ = train_tier(96, 2, 4, buckets=[1, 2, 3], steps=200)
    return str(save_model(model, tokenizer, tempfile.mkdtemp() + "/tier"))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(folder: str | None, n: int) -> None:
    folder = folder or model_folder()
    batch = prompts(n)
    sampling = SamplingParams(max_new_tokens=micro.WIDTH + 1)
    rows = []
    for size in (1, 16, 64, 256, 1024):
        backend = TransformersBackend(folder, batch_size=size)
        if size == 1:
            # the loop the project forbids: one generate call per prompt
            seconds = timed(lambda: [backend.generate([p], sampling) for p in batch])
        else:
            seconds = timed(lambda: backend.generate(batch, sampling))
        rows.append((size, seconds, n / seconds))
    base = rows[0][2]
    print(f"{'batch size':>10} {'seconds':>9} {'prompts/s':>10} {'vs loop':>8}")
    for size, seconds, rate in rows:
        print(f"{size:>10} {seconds:>9.2f} {rate:>10.1f} {rate / base:>7.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", help="a saved model (default: train a small micro tier first)")
    parser.add_argument("n", nargs="?", type=int, default=512, help="prompts")
    args = parser.parse_args()
    main(args.folder, args.n)
