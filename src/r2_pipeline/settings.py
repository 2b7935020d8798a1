"""Kedro settings: OmegaConf with globals shared by catalog, parameters and dvc.yaml; the catalog
and plugin hooks of a multi-process launch; library warnings that a user of this project cannot act
on are silenced here, each by its message."""

import logging
import os
import warnings
from pathlib import Path

# MLflow's own usage telemetry (kedro-telemetry's opt-out is `.telemetry`): set before anything
# imports mlflow (the hooks below do), which reads it once; MLFLOW_DISABLE_TELEMETRY=false in the
# environment wins.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from kedro.config import OmegaConfigLoader  # noqa: E402
from kedro.utils import find_kedro_project  # noqa: E402

from r2_pipeline import ranks  # noqa: E402
from r2_pipeline.datasets import MainProcessCatalog  # noqa: E402
from r2_pipeline.hooks import (  # noqa: E402
    EndpointPreflightHook,
    LocalInputsHook,
    ProjectRootHook,
    ProvenanceHook,
    RunBudgetHook,
    ValidateParamsHook,
)
from r2_pipeline.reporting.provenance import tracking_root  # noqa: E402

HOOKS = (ValidateParamsHook(), ProjectRootHook(), EndpointPreflightHook(), LocalInputsHook(), RunBudgetHook(),
         ProvenanceHook())


def kedro_project_root() -> str:
    """`${project_root:}` in config: the Kedro project holding the working directory, found the way
    `kedro` finds it (so `kedro run` from `notebooks/` still writes the project's `mlflow.db`)."""
    return (find_kedro_project(Path.cwd()) or Path.cwd()).resolve().as_posix()


def mlflow_root() -> str:
    """`${tracking_root:}` in mlflow.yml: the project root, except in a DVC experiment, whose stages
    log to the MLflow store of the repository the experiment belongs to, also when it runs queued in
    a temporary copy (reporting/provenance.tracking_root)."""
    return tracking_root(kedro_project_root())


CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "globals": ["globals*", "globals*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
    "custom_resolvers": {"project_root": kedro_project_root, "tracking_root": mlflow_root},
}

# Under `accelerate launch` (several processes, each a whole `kedro run`), the main process alone
# writes the catalog's persistent outputs, and the others wait for each write (MainProcessCatalog);
# plugins' hooks (kedro-mlflow's run, kedro-viz's run statistics) act on the main process only.
DATA_CATALOG_CLASS = MainProcessCatalog
DISABLE_HOOKS_FOR_PLUGINS = () if ranks.is_main() else ranks.plugin_names()


class _DropMessages(logging.Filter):
    """Drops a logger's records whose message contains one of `texts`."""

    def __init__(self, *texts: str):
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.texts)


# kedro-mlflow's KedroPipelineModel.predict has no type hints, and MLflow warns when kedro-mlflow
# defines it. MLflow raises it under its own "once" filter, which overrides warnings.filterwarnings,
# so it is dropped where Kedro's logging receives Python warnings.
logging.getLogger("py.warnings").addFilter(_DropMessages("Add type hints to the `predict` method"))
# transformers looks a model's loss up by class name, finds none for GPT2LMHeadModel (the micro
# pool's layout) and falls back to the causal-LM loss, which is the right one.
logging.getLogger("transformers.modeling_utils").addFilter(_DropMessages("`loss_type=None` was set"))

# TRL's configs default `gradient_checkpointing` to True, so transformers' TrainingArguments warns
# about the name at every trainer, whatever the parameters say; TRL itself reads the old property.
warnings.filterwarnings("ignore", message="`gradient_checkpointing` is deprecated", category=FutureWarning,
                        module="transformers.training_args")
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning,
                        module="transformers.modeling_utils")
