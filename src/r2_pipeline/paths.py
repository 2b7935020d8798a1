"""Relative paths in parameters and in tracked artifacts are relative to the Kedro project root.

Kedro makes the catalog's file paths absolute against the project root, but not paths inside
parameters (the call cache, a pretrained backbone, a benchmark file) or inside artifacts such as the
pool manifest, which keeps its folders relative so that it moves with the checkout. Those resolve
here: against the root of the Kedro run in progress (`hooks.ProjectRootHook` sets it), else against
the working directory. So `kedro run` from `notebooks/`, or `session.run()` in a notebook there, uses
the project's pool and cache, not folders under `notebooks/`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

ROOT_ENV = "R2_PROJECT_ROOT"


def project_root() -> Path:
    """The root of the Kedro run in progress, else the working directory."""
    return Path(os.environ.get(ROOT_ENV) or os.getcwd())


def from_root(path: str | os.PathLike) -> str:
    """`path` with `~` expanded; a relative path is taken from the project root."""
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else project_root() / expanded)


@contextlib.contextmanager
def rooted(root: str | os.PathLike) -> Iterator[None]:
    """Within the block, relative paths resolve against `root`; the previous root comes back after."""
    previous = os.environ.get(ROOT_ENV)
    os.environ[ROOT_ENV] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(ROOT_ENV, None)
        else:
            os.environ[ROOT_ENV] = previous
