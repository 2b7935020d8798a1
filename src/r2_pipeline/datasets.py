"""Kedro datasets of the project: a folder of Hugging Face model folders, loaded back as paths; and
the catalog that lets one process write them in a multi-process launch."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DataCatalog

from . import ranks

logger = logging.getLogger(__name__)


def replace_folder(path: Path, write: Callable[[Path], None]) -> None:
    """Write a new folder beside `path`, then swap it in: a save that fails leaves the old one whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model folder is not
    try:
        write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = path.with_name(f".{path.name}.old-{staging.name.rsplit('-', 1)[-1]}")
    try:
        if path.exists():
            path.rename(old)
        staging.rename(path)
    except BaseException:
        if old.exists():
            old.rename(path)  # put the previous folder back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


class ModelFoldersDataset(AbstractDataset[dict[str, Any], dict[str, str]]):
    """save({name: (model, tokenizer)}) writes `path/name/`; load() returns {name: folder path}.

    Downstream nodes get paths, never model objects (Kedro would deep-copy those in memory).
    """

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> dict[str, str]:
        if not self._path.is_dir():
            raise FileNotFoundError(f"no model folders at {self._path}; run the pipeline that trains them")
        return {p.name: str(p) for p in sorted(self._path.iterdir()) if (p / "config.json").exists()}

    def save(self, models: dict[str, Any]) -> None:
        def write(folder: Path) -> None:  # an empty pool (paper profile: no tiers) is a valid result
            for name, (model, tokenizer) in models.items():
                model.save_pretrained(folder / name)
                tokenizer.save_pretrained(folder / name)

        replace_folder(self._path, write)

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class ModelFolderDataset(AbstractDataset[tuple[Any, Any], str]):
    """save((model, tokenizer)) writes one Hugging Face folder; load() returns its path."""

    def __init__(self, path: str, metadata: dict | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> str:
        if not (self._path / "config.json").exists():
            raise FileNotFoundError(f"no model folder at {self._path}; run the pipeline that trains it")
        return str(self._path)

    def save(self, data: tuple[Any, Any]) -> None:
        model, tokenizer = data

        def write(folder: Path) -> None:
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)

        replace_folder(self._path, write)

    def _exists(self) -> bool:
        return (self._path / "config.json").exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class MainProcessCatalog(DataCatalog):
    """Kedro's DataCatalog, whose persistent datasets only the main process of a multi-process
    launch writes (model folders, tables, MLflow artifacts and metrics); every process then waits
    for that write, so a later node loads what the main process saved, whichever process runs it.
    Memory datasets are each process's own. With one process it is Kedro's DataCatalog.

    Every process runs the same nodes in the same order (SequentialRunner), so each save is reached
    by all of them: the wait is a barrier of the launch's process group."""

    def save(self, ds_name: str, data: Any) -> None:
        if ranks.world_size() == 1 or getattr(self[ds_name], "_EPHEMERAL", False):
            super().save(ds_name, data)
            return
        if ranks.is_main():
            super().save(ds_name, data)
        else:
            logger.debug("process %d leaves %s to the main process", ranks.rank(), ds_name)
        ranks.wait_for_everyone()
