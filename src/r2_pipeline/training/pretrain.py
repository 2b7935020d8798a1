"""A plain PyTorch loop that teaches a tiny causal LM prompt -> answer pairs (the micro pool tiers).

TRL's SFTTrainer would do the same with more overhead per step; at 20k-2M parameters the loop itself
dominates, and the pool must train in minutes on two cores.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import torch

logger = logging.getLogger(__name__)
LOG_EVERY = 200  # steps between progress lines


def encode_pairs(tokenizer, pairs: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-aligned prompt+answer+eos ids, with labels only on answer and eos (-100 elsewhere)."""
    rows, labels = [], []
    for prompt, answer in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    lab = torch.tensor([[-100] * (width - len(r)) + r for r in labels])
    return ids, lab


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_pairs(
    model,
    ids: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    batch_size: int = 256,
    learning_rate: float = 6e-3,
    warmup_steps: int = 50,
    weight_decay: float = 0.0,
    seed: int = 0,
    label: str = "",
) -> list[float]:
    """Train for a fixed number of steps (not seconds: reruns give the same weights); logs the loss
    every LOG_EVERY steps and at the last, prefixed with `label`."""
    gen = torch.Generator().manual_seed(seed)
    attention = (labels != -100).long() | (ids != model.config.pad_token_id).long()
    # positions count from each row's first real token, as `generate` counts them under left
    # padding: prompts of different lengths (a step, a compound) are then read alike in both
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    losses, start = [], time.time()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, learning_rate, warmup_steps)
        idx = torch.randint(0, ids.shape[0], (batch_size,), generator=gen)
        out = model(input_ids=ids[idx], attention_mask=attention[idx], position_ids=positions[idx],
                    labels=labels[idx], use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
        if (step + 1) % LOG_EVERY == 0 or step + 1 == steps:
            prefix = f"{label}: " if label else ""
            logger.info("%sstep %d/%d loss %.4f (%.0fs)", prefix, step + 1, steps, losses[-1], time.time() - start)
    model.eval()
    return losses
