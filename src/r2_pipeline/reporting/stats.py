"""How sure a comparison of two methods on the same questions is: Wilson intervals for an accuracy,
and paired statistics for a difference (bootstrap over questions, McNemar's exact test).

Scores are per question, 1 right and 0 wrong; graded tasks (token F1) may give values between, and
then McNemar's test becomes the sign test it is a case of: questions where one method scores higher."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy.stats import binomtest


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion: sound near 0 and 1, where the normal one is not."""
    if n <= 0:
        raise ValueError(f"a proportion needs at least one trial, got n={n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    # scipy's is exact at the ends: all wrong has 0 as its lower bound, all right 1 as its upper one
    interval = binomtest(successes, n).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


def score_interval(scores: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Interval of a mean score: Wilson's when every score is 0 or 1, else the normal one of the
    mean (graded scores such as token F1), clipped to [0, 1]."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        raise ValueError("a mean score needs at least one question")
    if np.isin(values, (0.0, 1.0)).all():
        return wilson_interval(int(values.sum()), values.size, confidence)
    half = _z(confidence) * values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.inf
    return float(max(0.0, values.mean() - half)), float(min(1.0, values.mean() + half))


def _z(confidence: float) -> float:
    """The two-sided normal quantile of `confidence` (1.96 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def mcnemar_exact(a_better: int, b_better: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: questions only A got right (A
    scored higher) and questions only B got right. Questions both got right, or both wrong, say
    nothing about which method is better. It is the two-sided exact binomial test of 1/2 on them;
    with none, there is no evidence either way (p = 1)."""
    n = a_better + b_better
    return float(binomtest(a_better, n).pvalue) if n else 1.0


@dataclass
class PairedComparison:
    """Method A against baseline B on the same n questions; differences are A minus B, cost ratio
    is A's total over B's; the intervals come from one paired bootstrap over questions."""

    n: int
    accuracy: float
    baseline_accuracy: float
    accuracy_diff: float
    accuracy_diff_low: float
    accuracy_diff_high: float
    method_better: int  # questions the method got right and the baseline wrong (scored higher)
    baseline_better: int
    mcnemar_p: float
    cost_usd: float
    baseline_cost_usd: float
    cost_ratio: float
    cost_ratio_low: float
    cost_ratio_high: float
    beats: bool

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def beats(accuracy: float, cost: float, baseline_accuracy: float, baseline_cost: float) -> bool:
    """Higher accuracy at no more cost, or lower cost at no less accuracy (point estimates)."""
    return (accuracy > baseline_accuracy and cost <= baseline_cost) or (
        cost < baseline_cost and accuracy >= baseline_accuracy
    )


def ratio_bounds(ratios: np.ndarray, tails: Sequence[float]) -> tuple[float, float]:
    """Percentile bounds of resampled cost ratios. 0/0 resamples drop out. Interpolating next to an
    x/0 = inf resample gives nan; there the bound is the order statistic on its side instead (the
    finite neighbour for the low bound, inf for the high one), not a blanket inf."""
    with np.errstate(invalid="ignore"):
        bounds = np.nanpercentile(ratios, tails)
        sides = [np.nanpercentile(ratios, tails[0], method="lower"), np.nanpercentile(ratios, tails[1], method="higher")]
    low, high = (float(side) if np.isnan(bound) else float(bound) for bound, side in zip(bounds, sides))
    return low, high


def paired_comparison(
    correct: Sequence[bool],
    baseline_correct: Sequence[bool],
    cost: Sequence[float],
    baseline_cost: Sequence[float],
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> PairedComparison:
    """Compare two methods question by question (entry i of every sequence is the same question)."""
    a, b = np.asarray(correct, dtype=float), np.asarray(baseline_correct, dtype=float)
    ca, cb = np.asarray(cost, dtype=float), np.asarray(baseline_cost, dtype=float)
    n = len(a)
    if n == 0 or not len(b) == len(ca) == len(cb) == n:
        raise ValueError(f"paired comparison needs equal, non-empty sequences; got {len(a)}, {len(b)}, "
                         f"{len(ca)}, {len(cb)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    diffs, ratios = _bootstrap(a - b, ca, cb, resamples, seed)
    tails = [100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2]
    diff_low, diff_high = np.percentile(diffs, tails)
    total_a, total_b = ca.sum(), cb.sum()
    if total_b > 0:
        ratio_low, ratio_high = ratio_bounds(ratios, tails)
        ratio = total_a / total_b
    else:  # a free baseline: no ratio to speak of
        ratio = ratio_low = ratio_high = math.nan
    a_better, b_better = int((a > b).sum()), int((a < b).sum())
    return PairedComparison(
        n=n,
        accuracy=float(a.mean()),
        baseline_accuracy=float(b.mean()),
        accuracy_diff=float(a.mean() - b.mean()),
        accuracy_diff_low=float(diff_low),
        accuracy_diff_high=float(diff_high),
        method_better=a_better,
        baseline_better=b_better,
        mcnemar_p=mcnemar_exact(a_better, b_better),
        cost_usd=float(total_a),
        baseline_cost_usd=float(total_b),
        cost_ratio=float(ratio),
        cost_ratio_low=float(ratio_low),
        cost_ratio_high=float(ratio_high),
        beats=beats(float(a.mean()), float(total_a), float(b.mean()), float(total_b)),
    )


def _bootstrap(diff, cost_a, cost_b, resamples: int, seed: int, cells: int = 2_000_000):
    """Mean score difference and cost ratio on `resamples` resamples of the questions, drawn in
    blocks of about `cells` indices so memory stays bounded however many questions there are."""
    rng, n = np.random.default_rng(seed), len(diff)
    block = max(1, cells // n)
    diffs, ratios = [], []
    for start in range(0, resamples, block):
        index = rng.integers(0, n, size=(min(block, resamples - start), n))
        diffs.append(diff[index].mean(axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):  # a resample of free baseline answers
            ratios.append(cost_a[index].sum(axis=1) / cost_b[index].sum(axis=1))
    return np.concatenate(diffs), np.concatenate(ratios)


def aligned_answers(a: pd.DataFrame, b: pd.DataFrame, benchmark: str, method: str, baseline: str):
    """Both methods' rows in the same question order; they must have answered the same questions."""
    for name, table in ((method, a), (baseline, b)):
        if table.index.has_duplicates:
            raise ValueError(f"{benchmark} / {name}: question ids repeat, so answers cannot be paired")
    if set(a.index) != set(b.index):
        raise ValueError(f"{benchmark}: {method} and {baseline} answered different questions "
                         f"({len(set(a.index) ^ set(b.index))} ids in one only)")
    return a, b.loc[a.index]
