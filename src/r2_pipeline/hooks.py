"""Project hooks: validate every parameter block before any node runs (for the launch's process
count too) and unroll the profile's GRPO rounds; check the pool's endpoints before a run that calls
the pool, and the local files the parameters name before a run that reads them; start each run's
spend at zero; take relative paths in parameters from the project root; tag each MLflow run with
what produced it."""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from . import ranks
from .datasets import ModelFolderDataset, ModelFoldersDataset
from .params import ParameterError, validate_params
from .paths import rooted
from .pipelines.rl_refinement.rounds import ROUNDS, use_rounds
from .pool.budget import NO_POOL_CALLS, start_run
from .reporting import provenance
from .training.grpo import launch_problems
from .training.numerics import numerics


class ValidateParamsHook:
    @hook_impl(tryfirst=True)  # Kedro builds the pipelines after this hook: they unroll these rounds
    def after_context_created(self, context) -> None:
        validated = validate_params(context.params)
        rl = validated.get("rl_refinement")
        use_rounds(rl.rounds if rl is not None else ROUNDS)

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run for a pipeline that cannot start
    def before_pipeline_run(self, pipeline, catalog) -> None:
        if "params:rl_refinement" in pipeline.inputs():
            check_launch(catalog.load("params:rl_refinement"), ranks.world_size())


def check_launch(rl_refinement: dict, processes: int) -> None:
    """The GRPO phases' batches over every process of a multi-process launch (one process is
    validate_params' case): a process count TRL cannot split them by fails before the run starts,
    naming the key; other pipelines may run on any count."""
    if processes == 1:
        return
    problems = [f"parameter rl_refinement.{phase}.{problem}"
                for phase in ("decomposer", "allocator")
                for problem in launch_problems(rl_refinement[phase]["trainer"], rl_refinement[phase]["questions"],
                                               processes)]
    if problems:
        raise ParameterError(f"invalid parameters for {processes} processes:\n  " + "\n  ".join(problems))


class LocalInputsHook:
    """Files the parameters name and no node makes (a pretrained backbone's folder, a benchmark's
    data file) must be there before a run that reads them starts: otherwise SFT fails after
    data_generation has paid the teacher, and a missing test file after all training."""

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run for a pipeline that cannot start
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        inputs = pipeline.inputs()
        read = {name: catalog.load(f"params:{name}") for name in ("decomposer_sft", "allocator_sft",
                                                                   "evaluation", "data_generation")
                if f"params:{name}" in inputs}
        made = [path for name in pipeline.outputs() if (path := _dataset_path(catalog, name))]
        root = run_params.get("project_path")
        with rooted(root) if root else contextlib.nullcontext():
            problems = missing_inputs(read, made)
        if problems:
            raise ParameterError("missing inputs (docs/paper_profile.md, \"Before a run\"):\n  " + "\n  ".join(problems))


def missing_inputs(blocks: dict[str, dict], made: list[str]) -> list[str]:
    """The local files `blocks` (parameter blocks by name) name that are not there, leaving out
    those under a path in `made` (what the run's own nodes write)."""
    from .paths import from_root  # noqa: PLC0415
    from .tasks.loading import OFFLINE, looks_like_file  # noqa: PLC0415

    made_paths = [Path(from_root(m)).resolve() for m in made]

    def ours(path: str) -> bool:
        resolved = Path(from_root(path)).resolve()
        return any(resolved == m or m in resolved.parents for m in made_paths)

    problems = []
    for block in ("decomposer_sft", "allocator_sft"):
        backbone = (blocks.get(block) or {}).get("backbone") or {}
        path = backbone.get("path")
        if backbone.get("kind") == "pretrained" and path and not ours(path) \
                and not os.path.isfile(os.path.join(from_root(path), "config.json")):
            problems.append(f"parameter {block}.backbone.path = {path!r}: no model folder there (with config.json)")
    sources = [(f"evaluation.benchmarks.{name}", spec) for name, spec in
               ((blocks.get("evaluation") or {}).get("benchmarks") or {}).items()]
    teacher = (blocks.get("data_generation") or {}).get("teacher") or {}
    sources += [(f"data_generation.teacher.benchmarks.{name}", spec)
                for name, spec in (teacher.get("benchmarks") or {}).items()]
    for key, spec in sources:
        source = (spec or {}).get("source")
        if source and source != OFFLINE and looks_like_file(source) and not ours(source) \
                and not os.path.exists(from_root(source)):
            problems.append(f"parameter {key}.source = {source!r}: no such file")
    return problems


def _dataset_path(catalog, name: str) -> str | None:
    """Where a catalog dataset writes (its `filepath` or `path`), or None (a memory dataset)."""
    try:
        described = catalog.get(name)._describe()
    except Exception:  # noqa: BLE001  (a dataset that cannot say where it writes writes nowhere we check)
        return None
    path = described.get("filepath") or described.get("path")
    return str(path) if path else None


class RunBudgetHook:
    """`pool.budget_usd` caps one run: the spend shared by the run's pools starts at zero."""

    @hook_impl
    def before_pipeline_run(self) -> None:
        start_run()


class EndpointPreflightHook:
    """`kedro run --env paper` with a server down stops in seconds, naming the member and URL.

    Only pipelines whose calling nodes read `params:pool` are checked (an SFT-only run needs no
    endpoint, nor does the `estimate`, whose node is tagged NO_POOL_CALLS), and a pool without
    `openai` members (the micro profile) costs nothing.
    """

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run for a pipeline that cannot start
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        calling = Pipeline([n for n in pipeline.nodes if NO_POOL_CALLS not in n.tags])
        if not any(i == "params:pool" or i.startswith("params:pool.") for i in calling.inputs()):
            return
        from .pool.preflight import check_endpoints  # noqa: PLC0415  (checks nothing without openai members)

        # pluggy may call this before ProjectRootHook's: a member's relative `weights` folder is the
        # project's, also for `kedro run` from notebooks/
        root = run_params.get("project_path")
        with rooted(root) if root else contextlib.nullcontext():
            check_endpoints(catalog.load("params:pool"))


class ProjectRootHook:
    """While a run is in progress, relative paths in parameters and in the pool manifest resolve
    against its project root (paths.from_root), whatever the working directory; restored after."""

    def __init__(self) -> None:
        self._runs: list[contextlib.ExitStack] = []  # one `paths.rooted` block per run in progress

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params) -> None:
        run = contextlib.ExitStack()
        run.enter_context(rooted(run_params["project_path"]))
        self._runs.append(run)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._end()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._end()

    def _end(self) -> None:
        if self._runs:
            self._runs.pop().close()


class ProvenanceHook:
    """Tags the kedro-mlflow run of every pipeline run with what produced it besides its parameters
    (reporting/provenance.py): commit and dirty tree, profile, torch and CPU kernels, the price
    table when the run reads `params:pool`, and `dvc.<dataset>`, the DVC hash of each model folder
    it reads (the pool's, through `pool_manifest`, as `dvc.pool_models`). A micro-world split it
    reads (`world_test`, ...) becomes an MLflow dataset input of the run, in context `<split>`.
    A stage of a DVC experiment is tagged `dvc_exp` and nested under a parent run named after the
    experiment (with the pool's seed), so each experiment of a seed study is one tree in the UI.
    Without an active MLflow run (tracking off, or a launch's other processes) it does nothing."""

    SPLIT = re.compile(r"world_(?P<split>\w+)")
    POOL = ("pool_manifest", "pool_models")  # the manifest names the pool's folders
    SEEDS = ("model_pool",)  # blocks whose seed an experiment's parent run is tagged with

    def __init__(self) -> None:
        self._run: dict | None = None  # the run in progress: its MLflow id, catalog, env and root

    @hook_impl(trylast=True)  # after kedro-mlflow's before_pipeline_run, which opens the run
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        active = mlflow.active_run()
        self._run = None
        if active is None:
            return
        root, env = run_params["project_path"], run_params.get("env")
        inputs = pipeline.inputs()
        pool = catalog.load("params:pool") if "params:pool" in inputs else None
        tags = provenance.run_tags(root, env, numerics(), pool, self._folders(inputs, catalog))
        mlflow.set_tags(tags)
        if "dvc_exp" in tags:  # a stage of a DVC experiment: nested under the experiment's parent run
            seeds = {f"{block}.seed": str(catalog.load(f"params:{block}").get("seed"))
                     for block in self.SEEDS if f"params:{block}" in catalog}
            provenance.nest_in_experiment(mlflow.get_run(active.info.run_id), {**tags, **seeds})
        self._run = {"id": active.info.run_id, "catalog": catalog, "env": env, "root": root, "logged": set()}

    @staticmethod
    def _folders(inputs: set[str], catalog) -> dict[str, str]:
        """The model folders among `inputs`, by dataset name, with the pool's when any reads it."""
        names = sorted(inputs) + (["pool_models"] if set(ProvenanceHook.POOL) & inputs else [])
        found = {name: catalog.get(name) for name in names}
        return {name: dataset._describe()["path"] for name, dataset in found.items()
                if isinstance(dataset, ModelFolderDataset | ModelFoldersDataset)}

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data) -> None:
        match = self.SPLIT.fullmatch(dataset_name)
        run = self._run
        if not match or run is None or dataset_name in run["logged"]:
            return
        active = mlflow.active_run()
        if active is None or active.info.run_id != run["id"]:
            return
        path = Path(run["catalog"].get(dataset_name)._describe()["filepath"])
        provenance.log_split(data, dataset_name, path, match["split"], run["env"], run["root"])
        run["logged"].add(dataset_name)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._run = None

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._run = None
