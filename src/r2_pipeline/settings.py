"""Kedro settings: OmegaConf with globals shared by catalog, parameters and dvc.yaml."""

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project

from r2_pipeline.hooks import EndpointPreflightHook, ProjectRootHook, ValidateParamsHook

HOOKS = (ValidateParamsHook(), ProjectRootHook(), EndpointPreflightHook())


def kedro_project_root() -> str:
    """`${project_root:}` in config: the Kedro project holding the working directory, found the way
    `kedro` finds it (so `kedro run` from `notebooks/` still writes the project's `mlflow.db`)."""
    return (find_kedro_project(Path.cwd()) or Path.cwd()).resolve().as_posix()


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals*", "globals*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
    "custom_resolvers": {"project_root": kedro_project_root},
}
