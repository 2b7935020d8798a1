"""Train one micro pool tier: a tiny Llama that answers single fixed-width arithmetic steps."""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Sequence

from ..tasks import micro
from .pretrain import encode_pairs, train_pairs
from .tiny import char_tokenizer, tiny_model

logger = logging.getLogger(__name__)

ALPHABET = "0123456789+-*/="


def step_pairs(buckets: Sequence[int], n: int, seed: int) -> list[tuple[str, str]]:
    """n (prompt, answer) pairs, buckets drawn uniformly from `buckets`."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        step = micro.sample_bucket_step(rng.choice(list(buckets)), rng)
        prompt = micro.member_prompt(f"{step.left} {step.op} {step.right}")
        pairs.append((prompt, micro.member_answer(step)))
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
) -> tuple:
    """Build (or continue `init_from`, a trained model) and train one tier.

    Returns (model, tokenizer, {parameters, final_loss, seconds, torch, cpu_capability}). The same
    seed gives the same weights only where the float kernels are the same: they depend on the CPU
    (one seed trained different pools with ATen's AVX2 and AVX512 kernels on one machine, and a
    third on another kind of CPU), and training from scratch carries a rounding difference into
    other weights (`numerics`). `label` prefixes the progress lines ("tier t3 (3/5)").
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
    ids, labels = encode_pairs(tokenizer, step_pairs(buckets, n_examples, seed))
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


def numerics() -> dict[str, str]:
    """Part of what a float result depends on besides code, parameters and seed: the torch build and
    the CPU kernels ATen dispatches to (`AVX2`, `AVX512`; the environment variable ATEN_CPU_CAPABILITY
    lowers it). Recorded with every trained tier and evaluation run, so that runs which differ for
    this reason can be told apart from a bug. Equal values are necessary, not sufficient: the same
    capability on another CPU model may still round differently."""
    import torch

    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def ladder_accuracy(pool, heldout: dict[int, list[tuple[str, str]]], sampling) -> list[dict]:
    """Accuracy of every member on every bucket's held-out steps (one batch per member and bucket)."""
    rows = []
    for member in pool.members:
        for bucket, pairs in heldout.items():
            prompts = [p for p, _ in pairs]
            outs = pool.generate(member, prompts, sampling)
            right = sum(
                micro.parse_member_answer(p, o.text) == micro.parse_member_answer(p, a)
                for (p, a), o in zip(pairs, outs)
            )
            rows.append({"member": member, "bucket": bucket, "accuracy": right / len(pairs), "n": len(pairs)})
    return rows
