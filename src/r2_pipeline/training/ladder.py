"""Train one micro pool tier: a tiny causal LM that answers fixed-width arithmetic subtasks (one
step, or two additive steps as a compound), and measure every member's success rate per bucket."""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import replace

from ..tasks import micro
from .numerics import numerics
from .pretrain import encode_pairs, train_pairs
from .tiny import char_tokenizer, tiny_model

logger = logging.getLogger(__name__)

ALPHABET = "0123456789+-*/="


def step_pairs(buckets: Sequence[int], n: int, seed: int, working: bool = False) -> list[tuple[str, str]]:
    """n (prompt, answer) pairs, buckets drawn uniformly from `buckets` (a bucket listed twice is
    drawn twice as often); a compound bucket (6, 7) gives compound subtasks, whose answers show
    their working when `working` is set (`micro.member_answer`)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        subtask = micro.sample_subtask(rng.choice(list(buckets)), rng)
        pairs.append((micro.member_prompt(subtask.text), micro.member_answer(subtask, working)))
    return pairs


def train_tier(
    hidden_size: int,
    num_hidden_layers: int,
    num_attention_heads: int,
    buckets: Sequence[int],
    steps: int,
    n_examples: int = 50_000,
    batch_size: int = 256,
    learning_rate: float = 6e-3,
    warmup_steps: int = 50,
    seed: int = 0,
    architecture: str = "gpt2",
    init_from=None,
    label: str = "",
    compound_working: bool = False,
) -> tuple:
    """Build (or continue `init_from`, a trained model) and train one tier.

    Returns (model, tokenizer, {parameters, final_loss, seconds, torch, cpu_capability}). The same
    seed gives the same weights only where the float kernels are the same: they depend on the CPU
    (one seed trained different pools with ATen's AVX2 and AVX512 kernels on one machine, and a
    third on another kind of CPU), and training from scratch carries a rounding difference into
    other weights (`numerics`). `label` prefixes the progress lines ("tier t3 (3/5)").
    `compound_working`: a compound's target writes its intermediate value first.
    """
    import torch

    start = time.time()
    torch.manual_seed(seed)
    tokenizer = char_tokenizer(ALPHABET)
    model = copy.deepcopy(init_from) if init_from is not None else tiny_model(
        tokenizer,
        architecture,
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        seed=seed,
    )
    ids, labels = encode_pairs(tokenizer, step_pairs(buckets, n_examples, seed, compound_working))
    losses = train_pairs(
        model, ids, labels, steps, batch_size, learning_rate, warmup_steps, seed=seed, label=label
    )
    info = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": float(sum(losses[-20:]) / min(20, len(losses))),
        "seconds": round(time.time() - start, 1),
        **numerics(),
    }
    return model, tokenizer, info


def ladder_accuracy(pool, heldout: dict[int, list[tuple[str, str]]], sampling, samples: int = 1) -> list[dict]:
    """Success rate of every member on every bucket's held-out subtasks: each asked `samples` times
    (seeds sampling.seed, +1, ...; one batch per member, bucket and seed), so a sampled member's
    rate is measured, not one draw. `solved_always` is the share of subtasks right in every sample,
    `solved_never` in none; the rest is what a member solves only some of the time."""
    rows = []
    for member in pool.members:
        for bucket, pairs in heldout.items():
            prompts = [p for p, _ in pairs]
            gold = [micro.parse_member_answer(p, a) for p, a in pairs]
            right = [0] * len(pairs)
            for s in range(samples):
                outs = pool.generate(member, prompts, replace(sampling, seed=sampling.seed + s))
                right = [r + (micro.parse_member_answer(p, o.text) == g) for r, p, o, g in zip(right, prompts, outs, gold)]
            rows.append({"member": member, "bucket": bucket, "accuracy": sum(right) / (len(pairs) * samples),
                         "solved_always": sum(r == samples for r in right) / len(pairs),
                         "solved_never": sum(r == 0 for r in right) / len(pairs), "n": len(pairs),
                         "samples": samples})
    return rows
