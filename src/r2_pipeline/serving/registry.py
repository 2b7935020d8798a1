"""The trained router in the MLflow Model Registry: logged as a pyfunc model of the evaluation run,
registered as `r2-router-<profile>` (a version per run), and the version whose objective beats the
champion's aliased `champion`. `RouterModelDataset` is the catalog's face of it."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import statistics
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from kedro.io import AbstractDataset
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from ..reporting import provenance
from .model import CHAMPION, COLUMNS, registered_name, secret_values

logger = logging.getLogger(__name__)

# the model's name inside its run (the run's `router` folder of logged models)
MODEL_NAME = "router"
# the model's code (a model from code: nothing pickled)
MODEL_CODE = Path(__file__).with_name("model_code.py")
# version tags: the objective it won or lost on, at which cost weight, on which benchmarks
OBJECTIVE_TAG = "objective"


@dataclass
class RouterPackage:
    """What a router model is made of: the configuration (serving.model.router_config), the two
    folders of weights, and the evaluated objective per benchmark (empty: the final router's plain
    reading was not evaluated)."""

    config: dict
    decomposer: str
    allocator: str
    objectives: dict[str, float] = field(default_factory=dict)

    @property
    def objective(self) -> float | None:
        """The mean objective over the benchmarks that ran the router."""
        values = [v for v in self.objectives.values() if v is not None and math.isfinite(v)]
        return statistics.fmean(values) if values else None


def signature(config: dict) -> ModelSignature:
    """In, a `question` column; out, COLUMNS; params `seed` (default the first evaluation seed) and
    `benchmark` (default the first evaluated one)."""
    evaluation = config["evaluation"]
    seeds = evaluation.get("seeds") or [0]
    return ModelSignature(
        inputs=Schema([ColSpec("string", "question")]),
        outputs=Schema([ColSpec(kind, name) for name, kind in COLUMNS.items()]),
        params=ParamSchema([ParamSpec("seed", "long", int(seeds[0])),
                            ParamSpec("benchmark", "string", next(iter(evaluation["benchmarks"])))]),
    )


def requirements() -> list[str]:
    """The project's own dependencies: `mlflow models serve --env-manager local` runs the model in the
    project's environment, where r2_pipeline is installed; a built environment would need them."""
    return [r for r in importlib.metadata.requires("r2-pipeline") or [] if "extra ==" not in r]


def log_router(package: RouterPackage, name: str) -> Any:
    """Log the router as a model of the active run (a run of its own when none is active), register it
    as a new version of `name`, tag it with its objective and promote it if it wins; returns the
    model version."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "router.json"
        text = json.dumps(package.config, indent=2, sort_keys=True)
        refuse_secrets(text, package.config["pool"])
        config.write_text(text)
        artifacts = {"decomposer": package.decomposer, "allocator": package.allocator, "config": str(config)}
        own_run = mlflow.active_run() is None
        run = mlflow.start_run(run_name="router") if own_run else mlflow.active_run()
        try:
            with warnings.catch_warnings():  # an input example would be answered by the pool at logging time
                warnings.filterwarnings("ignore", message=".*An input example was not provided", category=UserWarning)
                info = mlflow.pyfunc.log_model(name=MODEL_NAME, python_model=str(MODEL_CODE), artifacts=artifacts,
                                               signature=signature(package.config), pip_requirements=requirements(),
                                               registered_model_name=name)
        finally:
            if own_run:
                mlflow.end_run()
    client = MlflowClient()
    version = info.registered_model_version
    tag(client, name, version, package)
    if provenance.in_temporary_copy(package.config.get("project_root", ".")):
        # a queued DVC experiment's folders (its pool, the config's root) vanish when it ends
        experiment = provenance.experiment_tags()["dvc_exp"]
        client.set_model_version_tag(name, version, "dvc_exp", experiment)
        logger.info("router model %s version %s belongs to DVC experiment %s, whose folders are temporary: not "
                    "promoted (`dvc exp apply` brings its weights to the workspace)", name, version, experiment)
        return client.get_model_version(name, version)
    promoted = promote(client, name, version, package.objective)
    logger.info("router model %s version %s of run %s (objective %s)%s", name, version, run.info.run_id,
                package.objective, f"; now {CHAMPION!r}" if promoted else "")
    return client.get_model_version(name, version)


def refuse_secrets(text: str, pool: dict) -> None:
    """A key the pool reads never goes into the model's files."""
    if any(secret in text for secret in secret_values(pool)):
        raise ValueError("the router model's configuration holds an API key's value: give pool members "
                         "`api_key_env` (the variable's name), never the key")


def tag(client: MlflowClient, name: str, version: str, package: RouterPackage) -> None:
    evaluation = package.config["evaluation"]
    tags = {OBJECTIVE_TAG: "none" if package.objective is None else repr(package.objective),
            "cost_lambda": str(evaluation.get("cost_lambda")), "price_table": package.config["pool"]["price_table"],
            "benchmarks": ",".join(evaluation["benchmarks"]), "method": evaluation["methods"][0]["name"],
            **{f"{OBJECTIVE_TAG}.{b}": repr(v) for b, v in package.objectives.items()}}
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def champion(client: MlflowClient, name: str):
    """The version aliased CHAMPION, None for none."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def promote(client: MlflowClient, name: str, version: str, objective: float | None) -> bool:
    """Alias `version` CHAMPION when there is no champion yet, or when its objective beats the
    champion's (a champion without one, never evaluated, is beaten by any evaluated version)."""
    current = champion(client, name)
    held = None if current is None else _objective(current.tags.get(OBJECTIVE_TAG))
    wins = current is None or (objective is not None and (held is None or objective > held))
    if wins:
        client.set_registered_model_alias(name, CHAMPION, version)
    return wins


def _objective(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class RouterModelDataset(AbstractDataset[RouterPackage, Any]):
    """save(RouterPackage) logs and registers the router as `r2-router-<profile>` (log_router);
    load() is the champion as a pyfunc model."""

    def __init__(self, profile: str, metadata: dict | None = None):
        self.name = registered_name(profile)
        self.metadata = metadata

    def save(self, package: RouterPackage) -> None:
        log_router(package, self.name)

    def load(self) -> Any:
        return mlflow.pyfunc.load_model(f"models:/{self.name}@{CHAMPION}")

    def _describe(self) -> dict[str, Any]:
        return {"registered_model": self.name}
