"""Replication across pools: one DVC experiment per pool seed (and router seed), then a report of
what survives a new pool. Each method's mean over the experiments with a 95% t-interval across them,
the paired comparisons pooled over them, and for each headline claim the number of experiments in
which it holds; written into docs/results.md and logged as an MLflow run with its tables and plot.

    python -m r2_pipeline.reporting.seeds queue --pool-seeds 0 1 2 --jobs 3   # queue and start
    python -m r2_pipeline.reporting.seeds report                              # when they are done

`queue` runs `dvc exp run --queue -S <seed keys>=<seed> -n pool-seed-<seed>` per seed, then `dvc
queue start`; every stage of an experiment logs to this repository's MLflow store, under a parent
run named after the experiment (hooks.ProvenanceHook). `report` reads each finished experiment's
outputs from its git commit and the DVC cache, so the workspace stays as it is.

A variant of the chain is replicated the same way: `--set <parameters file>:<key>=<value>`
(repeatable, as `dvc exp run -S`) sets it in every experiment, under a prefix of its own, and
`report --prefix <it> --out docs/<page>.md` writes its section on a page of its own. The report
lists, per experiment, the parameters it set apart from its baseline commit."""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import t as student_t

from ..arguments import count, whole
from .results_doc import (
    DEFAULT_PAGE,
    _interval,
    _number,
    _row,
    seeds_section,
    shown_page,
    write_section,
)
from .results_doc import SEEDS_BEGIN as BEGIN
from .results_doc import SEEDS_END as END
from .results_doc import plot_file as page_plot
from .stats import Bootstrap, paired_comparison

__all__ = ["BEGIN", "END", "seeds_section", "write_section"]  # the page's seeds section, kept by results_doc

logger = logging.getLogger(__name__)

COMMAND = "python -m r2_pipeline.reporting.seeds"
PREFIX = "pool-seed"
# the parameter keys a pool seed and a router seed set (`dvc exp run -S file:key=value`)
POOL_SEED_KEYS = ("conf/base/parameters_model_pool.yml:model_pool.seed",)
ROUTER_SEED_KEYS = (
    "conf/base/parameters_decomposer_sft.yml:decomposer_sft.trainer.seed",
    "conf/base/parameters_allocator_sft.yml:allocator_sft.trainer.seed",
    "conf/base/parameters_rl_refinement.yml:rl_refinement.decomposer.seed",
    "conf/base/parameters_rl_refinement.yml:rl_refinement.decomposer.trainer.seed",
    "conf/base/parameters_rl_refinement.yml:rl_refinement.allocator.seed",
    "conf/base/parameters_rl_refinement.yml:rl_refinement.allocator.trainer.seed",
)
RESULTS = "data/07_model_output/evaluation_results.parquet"
METRICS = "data/08_reporting/metrics.json"
HEADROOM = "data/08_reporting/headroom.csv"
TRAINING = "data/08_reporting/pool_training.csv"
EVALUATION = "conf/base/parameters_evaluation.yml"
# (claim, method, baseline): `largest` is the dearest member alone
CLAIMS = (("R2 beats the largest member", "r2", "largest"),
          ("R2 beats the query router", "r2", "query_router"),
          ("RL beats SFT", "r2", "r2_sft"))
PLOT = "seeds_accuracy_vs_cost.png"


# ---------------------------------------------------------------- queueing


def experiment_name(pool_seed: int, router_seed: int | None = None, prefix: str = PREFIX) -> str:
    return f"{prefix}-{pool_seed}" + ("" if router_seed is None else f"-router-{router_seed}")


def check_sets(sets: Sequence[str], root: Path | None = None) -> None:
    """`--set` values as `dvc exp run -S` takes them, `<parameters file>:<dotted key>=<value>` (`+key`
    adds a key the file lacks); the seeds are --pool-seeds' and --router-seeds'. With `root`, the
    file must be one of its own."""
    for value in sets:
        match = re.fullmatch(r"([^:=]+\.ya?ml):\+{0,2}([A-Za-z0-9_][A-Za-z0-9_.-]*)=(.*)", value)
        if not match:
            raise ValueError(f"--set {value!r}: write <parameters file>:<key>=<value>, for example "
                             "conf/base/parameters_data_generation.yml:data_generation.allocation.tries=5")
        if f"{match[1]}:{match[2]}" in (*POOL_SEED_KEYS, *ROUTER_SEED_KEYS):
            raise ValueError(f"--set {value!r}: seeds are set by --pool-seeds and --router-seeds")
        if root is not None and not (root / match[1]).is_file():
            raise FileNotFoundError(f"--set {value!r}: no parameters file {match[1]} in {root}")


def queue_commands(pool_seeds: Sequence[int], router_seeds: Sequence[int] = (), prefix: str = PREFIX,
                   sets: Sequence[str] = ()) -> list[list[str]]:
    """One `dvc exp run --queue` per (pool seed, router seed); without router seeds the routers keep
    the parameters' seeds, and `sets` (check_sets) go to every experiment. Repeated seeds and a
    prefix that is not a git ref name are refused."""
    check_sets(sets)
    for label, seeds in (("pool seed", pool_seeds), ("router seed", router_seeds)):
        repeated = sorted({s for s in seeds if list(seeds).count(s) > 1})
        if repeated:
            raise ValueError(f"{label}s repeat: {repeated}")
    if not pool_seeds:
        raise ValueError("give at least one pool seed")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", prefix):
        raise ValueError(f"experiment prefix {prefix!r}: use letters, digits, '-', '_' and '.'")
    commands = []
    for pool_seed in pool_seeds:
        for router_seed in list(router_seeds) or [None]:
            given = [f"{key}={pool_seed}" for key in POOL_SEED_KEYS]
            given += [f"{key}={router_seed}" for key in ROUTER_SEED_KEYS] if router_seed is not None else []
            given += list(sets)
            commands.append(["dvc", "exp", "run", "--queue", *(a for s in given for a in ("-S", s)),
                             "-n", experiment_name(pool_seed, router_seed, prefix)])
    return commands


def queue(root: Path, pool_seeds: Sequence[int], router_seeds: Sequence[int] = (), prefix: str = PREFIX,
          jobs: int | None = 1, sets: Sequence[str] = ()) -> list[str]:
    """Queue the experiments of `queue_commands` in the DVC repository at `root` and, unless `jobs`
    is None, start `jobs` queue workers; returns the experiment names. Names already taken by an
    experiment are refused before anything is queued."""
    if not (root / "dvc.yaml").is_file():
        raise FileNotFoundError(f"no dvc.yaml in {root}: run this from the project's root (or give --root)")
    check_sets(sets, root)
    commands = queue_commands(pool_seeds, router_seeds, prefix, sets)
    names = [command[-1] for command in commands]
    taken = sorted(set(names) & set(listed_experiments(root)))
    if taken:
        raise ValueError(f"experiments {taken} exist already: remove them (`dvc exp remove {' '.join(taken)}`) "
                         "or choose another --prefix")
    # this environment's DVC, whatever PATH holds: its queue starts its workers as `dvc` from PATH
    dvc = [sys.executable, "-m", "dvc"]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    for command in commands:
        logger.info("%s", " ".join(command))
        subprocess.run(dvc + command[1:], cwd=root, env=env, check=True)
    if jobs is not None:
        subprocess.run([*dvc, "queue", "start", "-j", str(jobs)], cwd=root, env=env, check=True)
    return names


def listed_experiments(root: Path) -> dict[str, str]:
    """Every finished experiment of the repository, name -> commit."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        listed = repo.experiments.ls(all_commits=True)
    return {name: rev for experiments in listed.values() for name, rev in experiments if rev}


# ---------------------------------------------------------------- reading


@dataclass
class Replicate:
    """One experiment's outputs: its per-(question, seed) rows, its metrics.json, its seeds."""

    name: str
    rev: str
    pool_seed: int | None
    results: pd.DataFrame
    metrics: dict
    training: pd.DataFrame
    evaluation: dict
    headroom: pd.DataFrame | None = None  # RL's room per lambda; None where the experiment wrote none
    # parameters set apart from the baseline commit, seeds aside: dotted key -> value (set_parameters)
    overrides: dict | None = None


def read_replicates(root: Path, names: Sequence[str] | None = None, prefix: str = PREFIX) -> list[Replicate]:
    """The experiments `names` (default: every finished experiment `replicate_names` finds under `prefix`),
    read at their commits; fewer than two, or a name that is not a finished experiment, is an error
    that names what exists."""
    listed = listed_experiments(root)
    chosen = list(names) if names else replicate_names(listed, prefix)
    missing = [n for n in chosen if n not in listed]
    if missing or len(chosen) < 2:
        have = ", ".join(sorted(listed)) or "none"
        what = f"no finished experiment {missing}" if missing else f"{len(chosen)} experiment(s) named {prefix}-*"
        raise ValueError(f"{what}: a report needs at least two; finished experiments: {have} "
                         f"(`{COMMAND} queue` queues them, `dvc queue status` follows them)")
    return [read_replicate(root, name, listed[name]) for name in chosen]


def replicate_names(names: Iterable[str], prefix: str = PREFIX) -> list[str]:
    """The experiments `experiment_name` gives under `prefix` (`<prefix>-<pool seed>`, with
    `-router-<seed>`): a variant queued as `<prefix>-tries5` is a prefix of its own, not a replicate."""
    pattern = re.compile(rf"{re.escape(prefix)}-\d+(-router-\d+)?")
    return sorted(n for n in names if pattern.fullmatch(n))


def read_replicate(root: Path, name: str, rev: str) -> Replicate:
    import dvc.api

    def raw(path: str) -> bytes:
        try:
            return dvc.api.read(path, repo=str(root), rev=rev, mode="rb")
        except Exception as error:  # noqa: BLE001  (dvc raises several kinds; name the file and experiment)
            raise FileNotFoundError(f"experiment {name} ({rev[:7]}) has no readable {path}: {error}") from error

    params = yaml.safe_load(raw("conf/base/parameters_model_pool.yml"))
    try:
        room = pd.read_csv(io.BytesIO(raw(HEADROOM)))
    except FileNotFoundError:  # an experiment whose evaluation had no oracle and label policy to compare
        room = None
    return Replicate(
        name=name, rev=rev, pool_seed=(params.get("model_pool") or {}).get("seed"),
        results=pd.read_parquet(io.BytesIO(raw(RESULTS))), metrics=json.loads(raw(METRICS)),
        training=pd.read_csv(io.BytesIO(raw(TRAINING))),
        evaluation=yaml.safe_load(raw(EVALUATION))["evaluation"], headroom=room,
        overrides=set_parameters(root, rev),
    )


def set_parameters(root: Path, rev: str) -> dict:
    """The parameters that experiment commit `rev` holds apart from its baseline (its parent commit),
    as dotted key -> value, the pool and router seeds aside: what `queue --set` (or `dvc exp run -S`)
    changed. Read from git, where DVC keeps an experiment's parameter files."""
    def show(path: str) -> dict:
        found = subprocess.run(["git", "show", path], cwd=root, capture_output=True, text=True, check=False)
        return (yaml.safe_load(found.stdout) or {}) if found.returncode == 0 else {}

    listed = subprocess.run(["git", "ls-tree", "--name-only", rev, "conf/base/"], cwd=root, capture_output=True,
                            text=True, check=True).stdout.split()
    seeds = {key.split(":", 1)[1] for key in (*POOL_SEED_KEYS, *ROUTER_SEED_KEYS)}
    changed = {}
    for path in (p for p in listed if re.fullmatch(r"conf/base/parameters[^/]*\.ya?ml", p)):
        now, before = flatten(show(f"{rev}:{path}")), flatten(show(f"{rev}^:{path}"))
        changed |= {k: v for k, v in now.items() if k not in seeds and (k not in before or before[k] != v)}
    return changed


def flatten(tree: dict, prefix: str = "") -> dict:
    """{a: {b: 1}} -> {"a.b": 1}; lists and scalars are values."""
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        flat |= flatten(value, f"{name}.") if isinstance(value, dict) and value else {name: value}
    return flat


# ---------------------------------------------------------------- statistics


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student's t interval of `values` (one per experiment); one value has no interval."""
    x = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(student_t.ppf((1 + confidence) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def largest(metrics: dict) -> str | None:
    """The dearest member alone: the `single:` method whose cost is the unit of `cost_vs_largest`."""
    return next((m for m, v in metrics.items() if m.startswith("single:") and v.get("cost_vs_largest") == 1.0), None)


def method_spread(replicates: Sequence[Replicate], confidence: float = 0.95) -> pd.DataFrame:
    """Per (benchmark, method) run in every experiment: accuracy, cost vs the largest member and the
    objective, each as the mean over experiments with its t-interval, and the per-experiment values."""
    rows = []
    for benchmark in replicates[0].metrics:
        common = set.intersection(*(set(r.metrics.get(benchmark, {})) for r in replicates))
        for method in sorted(common):
            values = [r.metrics[benchmark][method] for r in replicates]
            row = {"benchmark": benchmark, "method": method, "experiments": len(values)}
            for key in ("accuracy", "cost_vs_largest", "objective"):
                column = [v.get(key) for v in values]
                row[key], row[f"{key}_low"], row[f"{key}_high"] = t_interval(column, confidence)
                row[f"{key}_each"] = ",".join("-" if c is None else f"{c:.3f}" for c in column)
            rows.append(row)
    if not rows:
        ran = "; ".join(f"{r.name}: " + (", ".join(f"{b} ({len(m)} methods)" for b, m in r.metrics.items()) or "nothing")
                        for r in replicates)
        raise ValueError(f"the experiments share no (benchmark, method) to report across them ({ran}): report "
                         "experiments of one evaluation setup, or name them with --experiments")
    return pd.DataFrame(rows).sort_values(["benchmark", "cost_vs_largest", "method"], ignore_index=True)


def resolve(method: str, metrics: dict) -> str:
    return largest(metrics) or method if method == "largest" else method


def compare(replicates: Sequence[Replicate], method: str, baseline: str, benchmark: str,
            bootstrap: dict | None = None) -> dict:
    """`method` against `baseline` on `benchmark`, paired by (question, evaluation seed) within each
    experiment and pooled over the experiments. The objective divides each experiment's costs by its
    own largest member's mean cost; intervals resample questions, a question drawn bringing its
    answers in every experiment and under every seed."""
    drawn = Bootstrap.from_block(bootstrap)
    parts = []
    for r in replicates:
        a, b = resolve(method, r.metrics[benchmark]), resolve(baseline, r.metrics[benchmark])
        table = r.results[r.results["benchmark"] == benchmark]
        unit = table.loc[table["method"] == largest(r.metrics[benchmark]), "cost_usd"].mean()
        pair = table[table["method"].isin([a, b])].pivot_table(index=["id", "seed"], columns="method",
                                                               values=["correct", "cost_usd"], aggfunc="first")
        if pair.isna().any().any() or a not in pair["correct"] or b not in pair["correct"]:
            raise ValueError(f"experiment {r.name}: {a} and {b} did not answer the same (question, seed) pairs "
                             f"on {benchmark}")
        parts.append(pd.DataFrame({"id": pair.index.get_level_values("id"), "correct": pair["correct"][a].to_numpy(),
                                   "baseline_correct": pair["correct"][b].to_numpy(),
                                   "cost": pair["cost_usd"][a].to_numpy() / unit,
                                   "baseline_cost": pair["cost_usd"][b].to_numpy() / unit}))
    rows = pd.concat(parts, ignore_index=True)
    lam = float(replicates[0].evaluation.get("cost_lambda", 0.5))
    result = paired_comparison(rows["correct"], rows["baseline_correct"], rows["cost"], rows["baseline_cost"],
                               confidence=drawn.confidence, resamples=drawn.resamples, seed=drawn.seed,
                               clusters=rows["id"], cost_lambda=lam, largest_cost=1.0)
    return {"benchmark": benchmark, "method": method, "baseline": baseline, "experiments": len(replicates),
            **{k: v for k, v in vars(result).items() if k not in ("cost_usd", "baseline_cost_usd")}}


def ran_everywhere(replicates: Sequence[Replicate], benchmark: str, *methods: str) -> bool:
    """Whether every experiment ran each of `methods` on `benchmark` (`largest` resolved in each)."""
    return all(resolve(m, r.metrics.get(benchmark, {})) in r.metrics.get(benchmark, {})
               for r in replicates for m in methods)


def pooled_comparisons(replicates: Sequence[Replicate], pairs: Iterable[Sequence[str]]) -> pd.DataFrame:
    """`compare` for every pair both of whose methods ran in every experiment."""
    bootstrap = replicates[0].evaluation.get("comparisons") or {}
    rows = []
    for benchmark in replicates[0].metrics:
        for method, baseline in pairs:
            if ran_everywhere(replicates, benchmark, method, baseline):
                rows.append(compare(replicates, method, baseline, benchmark, bootstrap))
    return pd.DataFrame(rows)


def claims(replicates: Sequence[Replicate], claim_list: Sequence[tuple[str, str, str]] = CLAIMS) -> pd.DataFrame:
    """Per claim and benchmark: in how many experiments the method's objective is higher than the
    baseline's, in how many that difference's interval lies above 0, and in how many it beats the
    baseline outright (higher accuracy at no more cost, or lower cost at no less accuracy); then the
    pooled comparison."""
    bootstrap = replicates[0].evaluation.get("comparisons") or {}
    rows = []
    for benchmark in replicates[0].metrics:
        for claim, method, baseline in claim_list:
            if not ran_everywhere(replicates, benchmark, method, baseline):
                continue
            each = [compare([r], method, baseline, benchmark, bootstrap) for r in replicates]
            pooled = compare(replicates, method, baseline, benchmark, bootstrap)
            rows.append({"benchmark": benchmark, "claim": claim, "method": method, "baseline": baseline,
                         "experiments": len(each),
                         "objective_higher": sum(e["objective_diff"] > 0 for e in each),
                         "objective_interval_above_0": sum(e["objective_diff_low"] > 0 for e in each),
                         "beats": sum(bool(e["beats"]) for e in each),
                         **{f"pooled_{k}": pooled[k] for k in ("accuracy_diff", "accuracy_diff_low", "accuracy_diff_high",
                                                               "cost_ratio", "cost_ratio_low", "cost_ratio_high",
                                                               "objective_diff", "objective_diff_low",
                                                               "objective_diff_high")}})
    return pd.DataFrame(rows)


def room_across(replicates: Sequence[Replicate], confidence: float = 0.95) -> pd.DataFrame:
    """RL's room in each pool: per (benchmark, lambda, router) that every experiment's headroom.csv
    has, each experiment's room (expected-reward oracle - label policy), the router's gain over its
    baseline and the gain's share of the room; their means with t-intervals across experiments; and
    in how many experiments the gain's interval lies above 0 and the gain is at least half the room.
    Empty when some experiment has no headroom.csv."""
    tables = [r.headroom for r in replicates]
    if any(t is None or t.empty for t in tables):
        return pd.DataFrame()
    key = ["benchmark", "cost_lambda", "router", "baseline"]
    indexed = [t.assign(cost_lambda=t["cost_lambda"].astype(float)).drop_duplicates(key).set_index(key)
               for t in tables]
    common = indexed[0].index
    for table in indexed[1:]:
        common = common.intersection(table.index, sort=False)
    rows = []
    for point in common:
        each = [table.loc[point] for table in indexed]
        row = {**dict(zip(key, point)), "experiments": len(each)}
        for column in ("room", "gain", "gain_share_of_room"):
            values = [float(e[column]) if pd.notna(e[column]) else math.nan for e in each]
            row[column], row[f"{column}_low"], row[f"{column}_high"] = t_interval(values, confidence)
            row[f"{column}_each"] = ",".join("-" if math.isnan(v) else f"{v:.3f}" for v in values)
        row["gain_interval_above_0"] = sum(float(e["gain_low"]) > 0 for e in each)
        row["half_the_room"] = sum(float(e["room"]) > 0 and float(e["gain"]) >= float(e["room"]) / 2 for e in each)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the report


def _ci(row: dict, key: str, spec: str) -> str:
    """`value [low, high]` of a row whose bounds are `<key>_low` and `<key>_high`."""
    return _interval(row, key, spec, "_low", "_high")


def render(replicates: Sequence[Replicate], spread: pd.DataFrame, comparisons: pd.DataFrame, claim_rows: pd.DataFrame,
           date: str, plot: str | None = None, room: pd.DataFrame | None = None, command: str | None = None) -> str:
    """The report as a Markdown section (between BEGIN and END); `command`: the report command that
    wrote it (default `COMMAND report`)."""
    machines = sorted({f"{c} / torch {t}" for r in replicates
                       for c, t in zip(r.training.get("cpu_capability", ["unknown"]), r.training.get("torch", ["unknown"]))})
    lam = replicates[0].evaluation.get("cost_lambda", 0.5)
    lines = [BEGIN, "## Across pool seeds", "",
             f"Generated by `{command or COMMAND + ' report'}` on {date} from {len(replicates)} DVC experiments; "
             "do not edit.", "",
             _row(["experiment", "pool seed", "parameters set", "commit"]), _row(["---"] * 4),
             *(_row([f"`{r.name}`", r.pool_seed, _overrides(r.overrides), r.rev[:7]]) for r in replicates), "",
             f"- CPU capability and torch of the pools' training: {', '.join(machines)}",
             "- Each experiment trained its own pool, routers and baselines on the same questions. Means and 95% "
             "t-intervals are across experiments (one value each: its mean over the evaluation seeds), so with three "
             "experiments an interval is wide (and not clipped: an accuracy near 1 can get an upper bound above 1); "
             "`each` lists the experiments' values in the order above.", ""]
    for benchmark, table in spread.groupby("benchmark", sort=False):
        lines += [f"### {benchmark}: each method across experiments", "",
                  _row(["method", "accuracy [95% CI]", "each", "vs largest [95% CI]",
                        f"objective (λ = {lam:g}) [95% CI]", "each"]), _row(["---"] * 6)]
        for r in table.to_dict("records"):
            lines.append(_row([f"`{r['method']}`", _ci(r, "accuracy", ".3f"), r["accuracy_each"], _ci(r, "cost_vs_largest", ".3f"),
                               _ci(r, "objective", ".3f"), r["objective_each"]]))
        lines.append("")
    if len(claim_rows):
        lines += ["### Headline claims", "",
                  "In how many experiments the method's objective is higher than the baseline's (point estimate), "
                  "in how many that difference's 95% interval lies above 0, in how many the method beats the "
                  "baseline outright (higher accuracy at no more cost, or lower cost at no less accuracy); then the "
                  "comparison pooled over the experiments.", "",
                  _row(["benchmark", "claim", "method / baseline", "objective higher", "interval above 0", "beats",
                        "pooled accuracy diff [95% CI]", "pooled cost ratio [95% CI]", "pooled objective diff [95% CI]"]),
                  _row(["---"] * 9)]
        for r in claim_rows.to_dict("records"):
            k = r["experiments"]
            lines.append(_row([r["benchmark"], r["claim"], f"`{r['method']}` / `{r['baseline']}`",
                               f"{r['objective_higher']} of {k}", f"{r['objective_interval_above_0']} of {k}",
                               f"{r['beats']} of {k}", _ci(r, "pooled_accuracy_diff", "+.3f"),
                               _ci(r, "pooled_cost_ratio", ".3f"), _ci(r, "pooled_objective_diff", "+.3f")]))
        lines.append("")
    if room is not None and len(room):
        lines += ["### RL's room in each pool", "",
                  "Per λ that trained a router, from each experiment's `headroom.csv`: the room (the expected-reward "
                  "oracle's objective minus the label policy's), the router's gain over its SFT baseline, and the "
                  "gain's share of the room, each experiment's value and the mean with its t-interval across "
                  "experiments; then in how many experiments the gain's paired 95% interval lies above 0, and in how "
                  "many the gain is at least half the room.", "",
                  _row(["benchmark", "λ", "router / baseline", "room [95% CI]", "each", "gain [95% CI]", "each",
                        "share of room [95% CI]", "each", "gain interval above 0", "at least half the room"]),
                  _row(["---"] * 11)]
        for r in room.to_dict("records"):
            k = r["experiments"]
            lines.append(_row([r["benchmark"], f"{r['cost_lambda']:g}", f"`{r['router']}` / `{r['baseline']}`",
                               _ci(r, "room", "+.3f"), r["room_each"], _ci(r, "gain", "+.3f"), r["gain_each"],
                               _ci(r, "gain_share_of_room", ".2f"), r["gain_share_of_room_each"],
                               f"{r['gain_interval_above_0']} of {k}", f"{r['half_the_room']} of {k}"]))
        lines.append("")
    if len(comparisons):
        lines += ["### Paired comparisons pooled over the experiments", "",
                  "Pairs by (question, evaluation seed) within each experiment; the objective divides costs by each "
                  "experiment's own largest member; intervals resample questions, each with its answers in every "
                  "experiment.", "",
                  _row(["benchmark", "method", "baseline", "accuracy diff [95% CI]", "McNemar p", "cost ratio [95% CI]",
                        "objective diff [95% CI]"]), _row(["---"] * 7)]
        for r in comparisons.to_dict("records"):
            lines.append(_row([r["benchmark"], f"`{r['method']}`", f"`{r['baseline']}`", _ci(r, "accuracy_diff", "+.3f"),
                               _number(r["mcnemar_p"], ".2g"), _ci(r, "cost_ratio", ".3f"), _ci(r, "objective_diff", "+.3f")]))
        lines.append("")
    if plot:
        lines += [f"![each method across pool seeds]({plot})", ""]
    return "\n".join([*lines, END, ""])


def _overrides(overrides: dict | None) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in sorted((overrides or {}).items())) or "none"


def report_command(root: Path, names: Sequence[str] | None, prefix: str, out: Path) -> str:
    """The `report` command line that reads these experiments into `out`, as the section cites it."""
    chosen = f" --experiments {' '.join(names)}" if names else (f" --prefix {prefix}" if prefix != PREFIX else "")
    page = shown_page(out, root)
    return f"{COMMAND} report{chosen}" + ("" if page == DEFAULT_PAGE else f" --out {page}")


def plot_file(page: Path) -> str:
    """The seeds plot's file beside `page` (results_doc.plot_file): PLOT beside docs/results.md,
    `<page>_`PLOT beside another page."""
    return page_plot(page, PLOT)


def plot_spread(spread: pd.DataFrame, replicates: Sequence[Replicate]):
    """Accuracy against cost vs the largest member: per method its experiments' points, joined, and
    their mean; plain methods only (no thresholds), so the page stays readable."""
    from .plots import pyplot

    plt = pyplot()
    benchmarks = list(spread["benchmark"].unique())
    fig, axes = plt.subplots(len(benchmarks), 1, figsize=(11, 6 * len(benchmarks)), squeeze=False)
    for ax, benchmark in zip(axes[:, 0], benchmarks):
        table = spread[(spread["benchmark"] == benchmark) & ~spread["method"].str.contains("@|\\+", regex=True)]
        for colour, r in enumerate(table.to_dict("records")):
            points = [(v[benchmark][r["method"]].get("cost_vs_largest"), v[benchmark][r["method"]]["accuracy"])
                      for v in (rep.metrics for rep in replicates)]
            points = [(x, y) for x, y in points if x]
            if not points:
                continue
            ax.plot(*zip(*points), lw=0.8, alpha=0.4, color=f"C{colour % 10}")
            ax.scatter(*zip(*points), s=12, alpha=0.6, color=f"C{colour % 10}")
            ax.scatter([r["cost_vs_largest"]], [r["accuracy"]], s=60, marker="D", color=f"C{colour % 10}")
            ax.annotate(r["method"], (r["cost_vs_largest"], r["accuracy"]), fontsize=7, xytext=(4, 2),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("cost vs the largest member (log scale)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{benchmark}: each method in each pool (small) and its mean (diamond)")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def _slug(text: str) -> str:
    """`text` as a metric-name prefix: lower case, each run of other characters one underscore."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def log_report(tracking_uri: str, experiment: str, replicates: Sequence[Replicate], spread: pd.DataFrame,
               tables: dict[str, pd.DataFrame], section: str, figure) -> str:
    """An MLflow run `seeds report` with the tables, the section and the plot as artifacts, one child
    run per method with its means and intervals, and the claims' counts as metrics; returns its id."""
    import mlflow

    from .mlflow_runs import log_method_runs

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    tags = {"r2.role": "seeds_report", "experiments": ",".join(r.name for r in replicates),
            "pool_seeds": ",".join(str(r.pool_seed) for r in replicates)}
    with mlflow.start_run(run_name="seeds report", tags=tags) as run:
        for name, table in tables.items():
            mlflow.log_text(table.to_csv(index=False), f"{name}.csv")
        mlflow.log_text(section, "seeds_report.md")
        mlflow.log_figure(figure, PLOT)
        for r in tables.get("seeds_room", pd.DataFrame()).to_dict("records"):
            slug = _slug(f"{r['benchmark']} lambda {r['cost_lambda']:g} {r['router']}")
            mlflow.log_metric(f"{slug}.experiments_half_the_room", r["half_the_room"])
            mlflow.log_metric(f"{slug}.experiments_gain_significant", r["gain_interval_above_0"])
        claims_table = tables.get("seeds_claims", pd.DataFrame())
        for r in claims_table.to_dict("records"):
            slug = _slug(f"{r['benchmark']} {r['claim']}")
            mlflow.log_metric(f"{slug}.experiments_holding", r["objective_higher"])
            mlflow.log_metric(f"{slug}.experiments_significant", r["objective_interval_above_0"])
        per_method = {b: {r["method"]: {k: r[k] for k in r if isinstance(r[k], float)}
                          for r in t.to_dict("records")} for b, t in spread.groupby("benchmark", sort=False)}
        log_method_runs(per_method, experiment, tags={"r2.role": "seeds_report_method"})
        return run.info.run_id


def mlflow_target(root: Path) -> tuple[str, str]:
    """The tracking URI and experiment name of the project's conf/base mlflow.yml, as Kedro reads it."""
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(root / settings.CONF_SOURCE), **settings.CONFIG_LOADER_ARGS)
    config = loader["mlflow"]
    return config["server"]["mlflow_tracking_uri"], config["tracking"]["experiment"]["name"]


def report(root: Path, names: Sequence[str] | None = None, prefix: str = PREFIX, out: Path | None = None,
           mlflow_log: bool = True, tracking: tuple[str, str] | None = None) -> str:
    """Read the experiments, write the section into `out` (default docs/results.md) with its plot
    beside it, log it to MLflow (`tracking`: URI and experiment; default the project's mlflow.yml);
    returns the section."""
    from .plots import close

    replicates = read_replicates(root, names, prefix)
    spread = method_spread(replicates)
    pairs = [tuple(p) for p in (replicates[0].evaluation.get("comparisons") or {}).get("pairs", [])]
    comparisons = pooled_comparisons(replicates, pairs)
    claim_rows = claims(replicates)
    room = room_across(replicates)
    out = out or root / "docs" / "results.md"
    figure = plot_spread(spread, replicates)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out.parent / plot_file(out), dpi=110)
    section = render(replicates, spread, comparisons, claim_rows, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                     plot=plot_file(out), room=room, command=report_command(root, names, prefix, out))
    write_section(out, section)
    if mlflow_log:
        uri, experiment = tracking or mlflow_target(root)
        run_id = log_report(uri, experiment, replicates, spread, {"seeds_methods": spread,
                            "seeds_comparisons": comparisons, "seeds_claims": claim_rows, "seeds_room": room},
                            section, figure)
        logger.info("logged the seeds report to MLflow run %s", run_id)
    close(figure)
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the project (a DVC repository)")
    commands = parser.add_subparsers(dest="command", required=True)
    q = commands.add_parser("queue", help="queue one DVC experiment per pool seed (and router seed), then start them")
    q.add_argument("--pool-seeds", type=whole, nargs="+", required=True)
    q.add_argument("--router-seeds", type=whole, nargs="*", default=[])
    q.add_argument("--prefix", default=PREFIX)
    q.add_argument("--jobs", type=count, default=1, help="queue workers (each runs one experiment at a time)")
    q.add_argument("--no-start", action="store_true", help="only queue; `dvc queue start` starts them")
    q.add_argument("--set", dest="sets", action="append", default=[], metavar="FILE:KEY=VALUE",
                   help="a parameter every experiment sets, as `dvc exp run -S` (repeatable): replicates a variant")
    r = commands.add_parser("report", help="report the finished experiments")
    r.add_argument("--experiments", nargs="*", help=f"names (default: every finished {PREFIX}-* experiment)")
    r.add_argument("--prefix", default=PREFIX)
    r.add_argument("--out", type=Path, help="the page to write the section into (default docs/results.md)")
    r.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    root = args.root.resolve()
    try:
        if args.command == "queue":
            names = queue(root, args.pool_seeds, args.router_seeds, args.prefix, None if args.no_start else args.jobs,
                          args.sets)
            print("\n".join(names))  # noqa: T201
        else:
            print(report(root, args.experiments, args.prefix, args.out, not args.no_mlflow))  # noqa: T201
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"error: {error}\n")
    except subprocess.CalledProcessError as error:
        parser.exit(error.returncode or 1, f"error: `{' '.join(error.cmd)}` failed\n")


if __name__ == "__main__":
    sys.exit(main())
