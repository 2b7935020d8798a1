"""What produced an MLflow run besides its parameters: the commit and whether the tree was dirty,
the profile, the DVC hashes of the model folders it read, the price table, the torch build and CPU
kernels; and a data split as an MLflow dataset input, digested by the same DVC hash."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import mlflow
import pandas as pd

logger = logging.getLogger(__name__)

UNKNOWN = "unknown"
HASH_PREFIX = "dvc."  # `dvc.<dataset>`: the DVC hash of a folder the run read, by catalog name
# dvc.lock is the record of a `dvc repro`, rewritten by it stage after stage: not what a run ran
RECORDS = ("dvc.lock",)
# the tags a run's child runs (per method, per curve) carry too, besides every `dvc.<dataset>`
INHERITED = ("git_commit", "git_dirty", "mlflow.source.git.commit", "profile", "price_table", "price_table_date",
             "torch", "cpu_capability", "dvc_exp", "dvc_exp_baseline")
# what `dvc exp run` (in the workspace, or queued and run in a temporary copy) sets for its stages:
# the experiment's name, the commit it branches from, and the repository it belongs to
EXP_NAME, EXP_BASELINE, DVC_ROOT = "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_ROOT"
EXPERIMENT_ROLE = "dvc_experiment"  # `r2.role` of the parent run that groups one experiment's stage runs


def run_tags(root: str | Path, env: str | None, machine: Mapping[str, str], pool: Mapping | None = None,
             folders: Mapping[str, str | Path] | None = None) -> dict[str, str]:
    """Every provenance tag of a run of the project at `root` under Kedro env `env`: git, profile,
    `machine` (training.numerics: torch and CPU kernels); the price table of `pool`
    (params:pool) when given; `dvc.<name>` for each folder."""
    tags = {**git_tags(root), "profile": profile(env), **machine, **experiment_tags()}
    if pool is not None:
        tags |= price_tags(pool)
    tags |= {HASH_PREFIX + name: value for name, value in dvc_hashes(folders or {}, root).items()}
    return tags


def profile(env: str | None) -> str:
    """The profile a Kedro env runs: `local` (the default env) holds credentials only, so a run
    without `--env` runs conf/base."""
    return "base" if env in (None, "", "local") else env


def git_tags(root: str | Path) -> dict[str, str]:
    """`git_commit` (the full hash) and `git_dirty` ("true" when a file under `root` other than
    dvc.lock differs from it, untracked ones too), also `mlflow.source.git.commit`, which the
    MLflow UI shows as the run's version; "unknown" outside git or without git."""
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        changed = _git(root, "status", "--porcelain", "--", ".", *(f":(exclude){r}" for r in RECORDS))
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": UNKNOWN, "git_dirty": UNKNOWN}
    return {"git_commit": commit, "git_dirty": str(bool(changed.strip())).lower(),
            "mlflow.source.git.commit": commit}


def _git(cwd: str | Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def price_tags(pool: Mapping) -> dict[str, str]:
    """`price_table` (pool.price_table) and `price_table_date`: the dates of its prices, sorted and
    comma-separated when they differ."""
    dates = sorted({str(price.get("date", UNKNOWN)) for price in (pool.get("prices") or {}).values()})
    return {"price_table": str(pool.get("price_table", UNKNOWN)), "price_table_date": ",".join(dates) or UNKNOWN}


def dvc_hashes(paths: Mapping[str, str | Path], root: str | Path) -> dict[str, str]:
    """The hash DVC gives each existing path (`<md5>.dir` for a folder, as in dvc.lock's outs),
    computed by DVC itself; in a DVC repository its state database remembers the files it hashed
    (`dvc repro` hashes every output), so a rerun reads rather than rehashes. A path DVC cannot
    hash is "unknown"; a missing one is left out."""
    present = {name: Path(path) for name, path in paths.items() if Path(path).exists()}
    if not present:
        return {}
    from dvc.repo import Repo
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    with Repo(str(root), uninitialized=True) as repo, tempfile.TemporaryDirectory() as scratch:
        odb = repo.cache.local or HashFileDB(fs, scratch)  # outside a DVC repository: hash, store nothing
        hashes = {}
        for name, path in present.items():
            try:
                _, _, obj = build(odb, str(path.resolve()), fs, "md5", dry_run=True, ignore=repo.dvcignore)
                hashes[name] = obj.hash_info.value
            except Exception as err:  # noqa: BLE001  (provenance never stops a run)
                logger.warning("no DVC hash for %s (%s): %s", name, path, err)
                hashes[name] = UNKNOWN
    return hashes


def log_split(data: pd.DataFrame, name: str, path: str | Path, split: str, env: str | None,
              root: str | Path) -> None:
    """`data` (dataset `name`, read from `path`) as an input of the active run in context `split`,
    named `<name> (<profile>)` with the file's DVC hash as its digest, so the UI's Dataset column
    says which split of which profile, and which version of it, the run read."""
    digest = dvc_hashes({name: path}, root).get(name, UNKNOWN)
    with warnings.catch_warnings():
        # MLflow registers its local-file source under two schemes and warns that it picks it; its
        # schema hint about integer columns concerns model signatures, not a logged input
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(data, source=Path(path).resolve().as_uri(),
                                          name=f"{name} ({profile(env)})", digest=digest)
        mlflow.log_input(dataset, context=split)


def inherited(parent_tags: Mapping[str, str]) -> dict[str, str]:
    """The provenance tags among a parent run's, which its child runs carry too."""
    return {k: v for k, v in parent_tags.items() if k in INHERITED or k.startswith(HASH_PREFIX)}


def experiment_tags() -> dict[str, str]:
    """`dvc_exp` and `dvc_exp_baseline` inside a DVC experiment's stage; nothing outside one."""
    name = os.environ.get(EXP_NAME)
    if not name:
        return {}
    return {"dvc_exp": name, "dvc_exp_baseline": os.environ.get(EXP_BASELINE, UNKNOWN)}


def tracking_root(project: str | Path) -> str:
    """Where the project's MLflow store lives: in a DVC experiment, the repository the experiment
    belongs to (a queued one runs in a temporary copy, deleted after it, under .dvc/tmp/exps);
    elsewhere `project`."""
    root = os.environ.get(DVC_ROOT) if os.environ.get(EXP_NAME) else None
    return Path(root or project).resolve().as_posix()


def in_temporary_copy(project: str | Path) -> bool:
    """True in a DVC experiment that runs in a temporary copy of the repository (`--queue`, `--temp`):
    its folders vanish when it ends, so nothing outside MLflow may point at them for later."""
    return tracking_root(project) != Path(project).resolve().as_posix()


def experiment_parent(client, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
    """The id of the run that groups DVC experiment `name`'s stage runs in MLflow experiment
    `experiment_id`, created (finished, tagged `tags`) by the first stage that asks. Its stage runs
    then carry `mlflow.parentRunId`, so the UI nests them under the experiment's name."""
    query = f"tags.dvc_exp = '{name}' and tags.`r2.role` = '{EXPERIMENT_ROLE}'"
    found = client.search_runs([experiment_id], filter_string=query, max_results=1, order_by=["attributes.start_time"])
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=name, tags={**tags, "r2.role": EXPERIMENT_ROLE})
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def nest_in_experiment(run, tags: Mapping[str, str]) -> str | None:
    """Makes `run` (the active kedro-mlflow run) a child of its DVC experiment's parent run when it
    runs inside one; returns the parent's id, None outside an experiment."""
    name = tags.get("dvc_exp")
    if not name or run.data.tags.get("mlflow.parentRunId"):
        return None
    client = mlflow.MlflowClient()
    keep = {k: v for k, v in tags.items() if (k in INHERITED and k != "git_dirty") or k.endswith(".seed")}
    parent = experiment_parent(client, run.info.experiment_id, name, keep)
    client.set_tag(run.info.run_id, "mlflow.parentRunId", parent)
    return parent
