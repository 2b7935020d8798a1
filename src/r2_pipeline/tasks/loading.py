"""Where a benchmark's rows come from. `source`: None for the task's hub dataset, "offline" for its
shipped copy, a .jsonl/.json/.parquet path (optionally .gz), or a hub name (`owner/name[:config]`).
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..paths import from_root, project_root

log = logging.getLogger(__name__)

OFFLINE = "offline"
SAMPLES = Path(__file__).parent / "samples"


def sample_file(name: str) -> Path:
    """A small file shipped with the package, written in the benchmark's own schema."""
    return SAMPLES / name


def package_file(package: str, relative: str, install: str) -> Path:
    """A data file inside an installed package (`install` names the pip package to suggest)."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as err:
        raise FileNotFoundError(f"offline data needs `pip install {install}`") from err
    return Path(str(root / relative))


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .json (a list, or a dict of rows) or .parquet file, gzipped or not."""
    path = str(path)
    if path.endswith(".parquet"):
        import pandas as pd  # noqa: PLC0415  (heavy, and only parquet needs it)

        return pd.read_parquet(path).to_dict(orient="records")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        if path.removesuffix(".gz").endswith(".jsonl"):
            return [json.loads(line) for line in f if line.strip()]
        data = json.load(f)
    return list(data.values()) if isinstance(data, dict) else list(data)


def load_hub(name: str, split: str, config: str | None = None) -> list[dict[str, Any]]:
    """Rows of a Hugging Face dataset split; `name` may carry its config as `owner/name:config`."""
    from datasets import load_dataset  # noqa: PLC0415  (slow import, unused offline)

    if ":" in name:
        name, config = name.split(":", 1)
    log.info("loading %s (%s) split %s from the hub", name, config, split)
    return [dict(row) for row in load_dataset(name, config, split=split)]


def load_records(
    source: str | None,
    split: str,
    *,
    hub: Callable[[str], Iterable[dict[str, Any]]],
    offline: Callable[[], Iterable[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Dispatch on `source` (see the module docstring); offline copies and files ignore `split`."""
    if source is None:
        return list(hub(split))
    if source == OFFLINE:
        return list(offline())
    if os.path.exists(path := from_root(source)):
        return read_records(path)
    if looks_like_file(source):
        raise FileNotFoundError(f"benchmark source {source!r} looks like a file, and there is no such file "
                                f"(under {project_root()}); a hub dataset is written owner/name[:config]")
    return load_hub(source, split)


FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".gz")


def looks_like_file(source: str) -> bool:
    """A data-file suffix, an absolute or ./ path, or more folders than a hub name's owner/name."""
    return (source.lower().endswith(FILE_SUFFIXES) or source.startswith(("/", "./", "../", "~"))
            or source.split(":", 1)[0].count("/") > 1)


def take(rows: list[Any], limit: int | None) -> list[Any]:
    return rows if limit is None else rows[:limit]
