"""How sure a comparison of two methods on the same questions is: Wilson intervals for an accuracy,
cluster bootstrap intervals over questions, and paired statistics for a difference (bootstrap over
questions, McNemar's exact test).

Scores are per question and evaluation seed, 1 right and 0 wrong; graded tasks (token F1) may give
values between, and then McNemar's test becomes the sign test it is a case of: pairs where one
method scores higher. A question answered under K seeds is one cluster of K rows: a bootstrap draws
questions, each with all its rows, since one question's answers under several seeds are not
independent samples."""

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


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn (`evaluation.comparisons`): percentile intervals at `confidence` from
    `resamples` resamples of the questions, drawn from `seed`."""

    confidence: float = 0.95
    resamples: int = 2000
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1, got {self.confidence}")
        if self.resamples < 1:
            raise ValueError(f"resamples must be at least 1, got {self.resamples}")

    @classmethod
    def from_block(cls, block: dict | None) -> Bootstrap:
        """From an `evaluation.comparisons` block; unset keys keep the defaults."""
        block = block or {}
        return cls(block.get("confidence", cls.confidence), block.get("resamples", cls.resamples),
                   block.get("seed", cls.seed))

    def tails(self) -> list[float]:
        return [100 * (1 - self.confidence) / 2, 100 * (1 + self.confidence) / 2]


def cluster_codes(clusters: Sequence | None, rows: int) -> tuple[np.ndarray, int]:
    """Each row's cluster as 0..n-1 in order of first appearance, and n; None: every row its own."""
    if clusters is None:
        return np.arange(rows), rows
    labels = np.asarray(clusters)
    if len(labels) != rows:
        raise ValueError(f"clusters name {len(labels)} rows, the values have {rows}")
    codes, uniques = pd.factorize(labels, use_na_sentinel=False)
    return codes, len(uniques)


def resampled_sums(columns: dict[str, np.ndarray], codes: np.ndarray, n: int, bootstrap: Bootstrap,
                   cells: int = 2_000_000) -> dict[str, np.ndarray]:
    """Each column's sum over `bootstrap.resamples` resamples of the n clusters (a cluster drawn brings
    all its rows), drawn in blocks of about `cells` indices so memory stays bounded however many
    questions there are."""
    sums = {name: np.bincount(codes, weights=values, minlength=n) for name, values in columns.items()}
    rng, block = np.random.default_rng(bootstrap.seed), max(1, cells // n)
    drawn: dict[str, list[np.ndarray]] = {name: [] for name in sums}
    for start in range(0, bootstrap.resamples, block):
        index = rng.integers(0, n, size=(min(block, bootstrap.resamples - start), n))
        for name, per_cluster in sums.items():
            drawn[name].append(per_cluster[index].sum(axis=1))
    return {name: np.concatenate(parts) for name, parts in drawn.items()}


def cluster_interval(values: Sequence[float], clusters: Sequence | None = None,
                     bootstrap: Bootstrap | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`, resampling clusters (a question with
    all its seed rows); None: every value its own cluster."""
    values, bootstrap = np.asarray(values, dtype=float), bootstrap or Bootstrap()
    if values.size == 0:
        raise ValueError("a mean needs at least one value")
    codes, n = cluster_codes(clusters, values.size)
    drawn = resampled_sums({"value": values, "count": np.ones(values.size)}, codes, n, bootstrap)
    low, high = np.percentile(drawn["value"] / drawn["count"], bootstrap.tails())
    return float(low), float(high)


@dataclass
class PairedComparison:
    """Method A against baseline B on the same n questions, each under the same `seeds` evaluation
    seeds. Differences are A minus B over the (question, seed) pairs; costs are totals over the
    questions per seed (the mean over seeds), the cost ratio is A's over B's; the intervals come from
    one paired bootstrap over questions."""

    n: int  # questions
    accuracy: float
    baseline_accuracy: float
    accuracy_diff: float
    accuracy_diff_low: float
    accuracy_diff_high: float
    # questions where the method scored higher over its seeds than the baseline (with one seed: right
    # where the baseline was wrong), and the reverse
    method_better: int
    baseline_better: int
    # McNemar's exact test on those questions (the sign test over questions)
    mcnemar_p: float
    cost_usd: float
    baseline_cost_usd: float
    cost_ratio: float
    cost_ratio_low: float
    cost_ratio_high: float
    beats: bool
    seeds: int
    # mean per-pair difference of correct - cost_lambda * cost / (the largest method's mean cost per
    # question); nan where the benchmark runs no largest method
    objective_diff: float
    objective_diff_low: float
    objective_diff_high: float

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
    *,
    clusters: Sequence | None = None,
    cost_lambda: float = 0.0,
    largest_cost: float | None = None,
) -> PairedComparison:
    """Compare two methods pair by pair: entry i of every sequence is the same (question, seed), and
    `clusters` names its question (None: every entry its own question, one seed). `largest_cost`, the
    largest method's mean cost per (question, seed), scales cost in the objective difference; None
    or 0 leaves that difference nan."""
    a, b, ca, cb = _paired_arrays(correct, baseline_correct, cost, baseline_cost)
    bootstrap = Bootstrap(confidence, resamples, seed)
    codes, n = cluster_codes(clusters, len(a))
    k = seeds_per_question(codes, n)
    columns = {"diff": a - b, "cost_a": ca, "cost_b": cb, "count": np.ones(len(a))}
    if largest_cost is not None and largest_cost > 0:
        columns["objective"] = a - b - cost_lambda * (ca - cb) / largest_cost
    drawn = resampled_sums(columns, codes, n, bootstrap)
    diff_low, diff_high = np.percentile(drawn["diff"] / drawn["count"], bootstrap.tails())
    # McNemar's exact test as a sign test over questions: a question counts for the method whose
    # answers were right under more of its seeds (with one seed, the discordant pairs), so several
    # seeds of one question never count as independent evidence
    per_question = np.bincount(codes, weights=a - b, minlength=n)
    a_better, b_better = int((per_question > 0).sum()), int((per_question < 0).sum())
    return PairedComparison(
        n=n, accuracy=float(a.mean()), baseline_accuracy=float(b.mean()), accuracy_diff=float(a.mean() - b.mean()),
        accuracy_diff_low=float(diff_low), accuracy_diff_high=float(diff_high),
        method_better=a_better, baseline_better=b_better, mcnemar_p=mcnemar_exact(a_better, b_better),
        cost_usd=float(ca.sum() / k), baseline_cost_usd=float(cb.sum() / k), **_cost_ratio(ca, cb, drawn, bootstrap),
        beats=beats(float(a.mean()), float(ca.sum()), float(b.mean()), float(cb.sum())),
        seeds=k, **_objective_diff(columns, drawn, bootstrap),
    )


def _paired_arrays(*sequences: Sequence) -> list[np.ndarray]:
    arrays = [np.asarray(s, dtype=float) for s in sequences]
    lengths = [len(x) for x in arrays]
    if lengths[0] == 0 or len(set(lengths)) > 1:
        raise ValueError(f"paired comparison needs equal, non-empty sequences; got {', '.join(map(str, lengths))}")
    return arrays


def seeds_per_question(codes: np.ndarray, n: int) -> int:
    """Rows per cluster, the same for every question (each answered under every seed)."""
    sizes = np.bincount(codes, minlength=n)
    if sizes.min() != sizes.max():
        raise ValueError(f"questions have between {sizes.min()} and {sizes.max()} seed rows: a paired "
                         "comparison needs every question answered under the same seeds")
    return int(sizes[0])


def _cost_ratio(ca: np.ndarray, cb: np.ndarray, drawn: dict, bootstrap: Bootstrap) -> dict:
    """A's total cost over B's with its interval; nan for a free baseline (no ratio to speak of)."""
    if cb.sum() <= 0:
        return dict.fromkeys(("cost_ratio", "cost_ratio_low", "cost_ratio_high"), math.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # a resample of free baseline answers
        low, high = ratio_bounds(drawn["cost_a"] / drawn["cost_b"], bootstrap.tails())
    return {"cost_ratio": float(ca.sum() / cb.sum()), "cost_ratio_low": low, "cost_ratio_high": high}


def _objective_diff(columns: dict, drawn: dict, bootstrap: Bootstrap) -> dict:
    if "objective" not in columns:
        return dict.fromkeys(("objective_diff", "objective_diff_low", "objective_diff_high"), math.nan)
    low, high = np.percentile(drawn["objective"] / drawn["count"], bootstrap.tails())
    return {"objective_diff": float(columns["objective"].mean()), "objective_diff_low": float(low),
            "objective_diff_high": float(high)}


PAIR_KEY = ("id", "seed")


def aligned_answers(a: pd.DataFrame, b: pd.DataFrame, benchmark: str, method: str, baseline: str
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both methods' rows indexed by (id, seed), in the same order; they must have answered the same
    questions under the same seeds."""
    a, b = _by_pair(a, benchmark, method), _by_pair(b, benchmark, baseline)
    if set(a.index) != set(b.index):
        raise ValueError(_mismatch(a.index, b.index, f"{benchmark}: {method} and {baseline}"))
    return a, b.loc[a.index]


def _by_pair(table: pd.DataFrame, benchmark: str, name: str) -> pd.DataFrame:
    missing = [column for column in PAIR_KEY if column not in table.columns]
    if missing:
        raise ValueError(f"{benchmark} / {name}: the rows have no {missing} column, so answers cannot be "
                         "paired by (question id, seed)")
    table = table.set_index(list(PAIR_KEY))
    if table.index.has_duplicates:
        raise ValueError(f"{benchmark} / {name}: (question id, seed) pairs repeat, so answers cannot be paired")
    return table


def _mismatch(a: pd.MultiIndex, b: pd.MultiIndex, who: str) -> str:
    ids_a, ids_b = set(a.get_level_values("id")), set(b.get_level_values("id"))
    if ids_a != ids_b:
        return f"{who} answered different questions ({len(ids_a ^ ids_b)} ids in one only)"
    seeds_a, seeds_b = sorted(set(a.get_level_values("seed"))), sorted(set(b.get_level_values("seed")))
    if seeds_a != seeds_b:
        return f"{who} ran different evaluation seeds ({seeds_a} and {seeds_b})"
    return f"{who} answered different (question id, seed) pairs ({len(set(a) ^ set(b))} in one only)"
