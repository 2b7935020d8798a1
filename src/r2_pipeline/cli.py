"""Project CLI: Kedro's `kedro run`, which first checks that the configuration environment and the
requested pipelines exist, so a typo stops in seconds naming what exists, before a config loader,
MLflow or a model starts."""

from __future__ import annotations

import os
from pathlib import Path

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.framework.project import settings

from .pipeline_registry import registered_names


@click.group(name="r2-pipeline")
def cli() -> None:
    """Commands of the r2-pipeline project."""


def configuration_envs(conf_dir: Path) -> list[str]:
    """The environment folders under `conf_dir` (base, local, paper, test)."""
    return sorted(p.name for p in conf_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_env(env: str | None, conf_dir: Path) -> None:
    """Kedro itself starts with a missing env folder, and the first error is then MLflow's, about a
    file store."""
    env = env or os.getenv("KEDRO_ENV")
    if not env or not conf_dir.is_dir():  # no env: Kedro's default `local`; an archive: Kedro reads it
        return
    envs = configuration_envs(conf_dir)
    if env not in envs:
        raise click.BadParameter(
            f"no configuration environment '{env}' in {conf_dir}; it holds {', '.join(envs)}.",
            param_hint="'--env' / KEDRO_ENV",
        )


def check_pipelines(names: list[str]) -> None:
    """Kedro only suggests close matches, after the context (and kedro-mlflow's setup) is built.
    Checked against the registry's names: building every pipeline would import every node."""
    registered = sorted(registered_names())
    unknown = [name for name in names if name not in registered]
    if unknown:
        raise click.BadParameter(
            f"no registered pipeline {', '.join(repr(n) for n in unknown)}; "
            f"registered pipelines: {', '.join(registered)}.",
            param_hint="'--pipelines'",
        )


def _checked_run(**kwargs):
    metadata = click.get_current_context().obj
    conf_source = kwargs.get("conf_source")
    conf_dir = Path(conf_source) if conf_source else metadata.project_path / settings.CONF_SOURCE
    check_env(kwargs.get("env"), conf_dir)
    requested = list(kwargs.get("pipelines") or []) + ([kwargs["pipeline"]] if kwargs.get("pipeline") else [])
    check_pipelines(requested)
    return kedro_run.callback(**kwargs)


cli.add_command(
    click.Command(
        name=kedro_run.name,
        callback=_checked_run,
        params=kedro_run.params,
        help=kedro_run.help,
        short_help=kedro_run.short_help,
        context_settings=kedro_run.context_settings,
    )
)
