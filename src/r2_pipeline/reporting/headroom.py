"""RL's room, per lambda: the expected-reward oracle against the label policy (what imitation of
the SFT data can reach), and how much of that room the RL-trained router took over `r2_sft`. Where
the evaluation has it, the oracle that knows only each bucket's rates (`knows: bucket`) against the
label policy: the part of the room a router can reach from what a subtask looks like.

The objective of a method at lambda is `accuracy - lambda * cost / cost(largest)`, over every
(question, seed) row; each difference is paired by (question, seed) and its interval is a
percentile bootstrap over questions (a question's seeds resampled together).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

COLUMNS = ["benchmark", "cost_lambda", "oracle", "label_policy", "router", "baseline", "oracle_objective",
           "label_policy_objective", "room", "room_low", "room_high", "router_objective", "baseline_objective",
           "gain", "gain_low", "gain_high", "gain_share_of_room", "bucket_oracle", "bucket_oracle_objective",
           "bucket_room", "bucket_room_low", "bucket_room_high"]


def objective_rows(table: pd.DataFrame, lam: float, cost_largest: float) -> pd.Series:
    """Each (question, seed) row's objective: correct - lam * cost / cost(largest)."""
    return table["correct"].astype(float) - lam * table["cost_usd"] / cost_largest


def paired_difference(results: pd.DataFrame, method: str, baseline: str, lam: float, cost_largest: float,
                      resamples: int, confidence: float, seed: int) -> tuple[float, float, float, float, float]:
    """(objective of method, of baseline, their difference, low, high) on the rows both have."""
    a = results[results["method"] == method].set_index(["id", "seed"])
    b = results[results["method"] == baseline].set_index(["id", "seed"])
    both = a.index.intersection(b.index)
    if len(both) == 0:
        raise ValueError(f"{method} and {baseline} share no (question, seed) row")
    diff = (objective_rows(a.loc[both], lam, cost_largest) - objective_rows(b.loc[both], lam, cost_largest))
    per_question = diff.groupby(level="id").agg(["sum", "count"])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(per_question), size=(resamples, len(per_question)))
    sums, counts = per_question["sum"].to_numpy()[picks].sum(1), per_question["count"].to_numpy()[picks].sum(1)
    low, high = np.quantile(sums / counts, [(1 - confidence) / 2, (1 + confidence) / 2])
    return (float(objective_rows(a.loc[both], lam, cost_largest).mean()),
            float(objective_rows(b.loc[both], lam, cost_largest).mean()), float(diff.mean()), float(low), float(high))


def headroom(results: pd.DataFrame, points: Sequence[dict], largest: str, resamples: int = 2000,
             confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per benchmark and point {cost_lambda, oracle, label_policy, router, baseline, and
    optionally bucket_oracle} (method names): the room (oracle - label policy) and the router's gain
    over the baseline at that lambda; with a bucket oracle that ran, its room over the label policy
    too. `largest` is the method whose mean cost per (question, seed) is cost(largest)."""
    rows = []
    for benchmark, group in results.groupby("benchmark", sort=False):
        present = set(group["method"])
        if largest not in present:
            continue
        cost_largest = float(group[group["method"] == largest]["cost_usd"].mean())
        for point in points:
            names = [point["oracle"], point["label_policy"], point["router"], point["baseline"]]
            if cost_largest <= 0 or not set(names) <= present:
                continue
            lam = float(point["cost_lambda"])
            oracle, label, room, room_low, room_high = paired_difference(
                group, point["oracle"], point["label_policy"], lam, cost_largest, resamples, confidence, seed)
            router, baseline, gain, gain_low, gain_high = paired_difference(
                group, point["router"], point["baseline"], lam, cost_largest, resamples, confidence, seed)
            bucket = {}
            if point.get("bucket_oracle") in present:
                objective, _, diff, low, high = paired_difference(
                    group, point["bucket_oracle"], point["label_policy"], lam, cost_largest, resamples, confidence, seed)
                bucket = {"bucket_oracle_objective": objective, "bucket_room": diff, "bucket_room_low": low,
                          "bucket_room_high": high}
            rows.append({"benchmark": benchmark, **point, "cost_lambda": lam, "oracle_objective": oracle,
                         "label_policy_objective": label, "room": room, "room_low": room_low, "room_high": room_high,
                         "router_objective": router, "baseline_objective": baseline, "gain": gain,
                         "gain_low": gain_low, "gain_high": gain_high,
                         "gain_share_of_room": gain / room if room > 0 else None, **bucket})
    return pd.DataFrame(rows, columns=COLUMNS)
