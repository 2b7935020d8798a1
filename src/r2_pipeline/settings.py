"""Kedro settings: OmegaConf with globals shared by catalog, parameters and dvc.yaml."""

from kedro.config import OmegaConfigLoader

from r2_pipeline.hooks import EndpointPreflightHook, ValidateParamsHook

HOOKS = (ValidateParamsHook(), EndpointPreflightHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals*", "globals*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
}
