"""Field names of the TRL and PEFT config classes whose settings parameter blocks pass through
unchanged (SFTConfig, GRPOConfig, LoraConfig). Importing those classes takes seconds (TRL's configs
subclass transformers' TrainingArguments, which imports PEFT and torch), and every `kedro` run
validates every block, also a run that trains nothing; so the names are kept in the user's cache
folder, in one file per installed version of trl, transformers and peft, written on first use."""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# the distributions whose versions decide the fields
DISTRIBUTIONS = ("trl", "transformers", "peft")


def config_fields(module: str, cls: str) -> set[str]:
    """The dataclass fields of `module.cls`, from the cache file, or imported (and then stored)."""
    path, key = cache_file(), f"{module}.{cls}"
    known = _read(path)
    if key not in known:
        known[key] = sorted(f.name for f in dataclasses.fields(getattr(importlib.import_module(module), cls)))
        _write(path, known)
    return set(known[key])


def cache_file() -> Path:
    """`$XDG_CACHE_HOME/r2-pipeline/config-fields_<dist>-<version>....json` (default ~/.cache)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    versions = "_".join(f"{name}-{_version(name)}" for name in DISTRIBUTIONS)
    return root / "r2-pipeline" / f"config-fields_{versions}.json"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:  # its class is then not importable either, and its import says so
        return "none"


def _read(path: Path) -> dict[str, list[str]]:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):  # no file yet, or a damaged one: the classes are imported
        return {}
    return known if isinstance(known, dict) else {}


def _write(path: Path, known: dict[str, list[str]]) -> None:
    """Replaces the file whole: the processes of a multi-process launch may write it at once. A
    cache folder that cannot be written only means the classes are imported again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(known, indent=1))
        os.replace(partial, path)
    except OSError:
        pass
