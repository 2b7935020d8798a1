"""What produced an MLflow run besides its parameters: the commit and whether the tree was dirty,
the profile, the DVC hashes of the model folders it read, the price table, the torch build and CPU
kernels; and a data split as an MLflow dataset input, digested by the same DVC hash."""

from __future__ import annotations

import logging
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
             "torch", "cpu_capability")


def run_tags(root: str | Path, env: str | None, machine: Mapping[str, str], pool: Mapping | None = None,
             folders: Mapping[str, str | Path] | None = None) -> dict[str, str]:
    """Every provenance tag of a run of the project at `root` under Kedro env `env`: git, profile,
    `machine` (training.ladder.numerics: torch and CPU kernels); the price table of `pool`
    (params:pool) when given; `dvc.<name>` for each folder."""
    tags = {**git_tags(root), "profile": profile(env), **machine}
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
