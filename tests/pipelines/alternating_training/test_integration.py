"""The whole chain for real on the tiny test parameters, in a temporary copy of the project, driven
the way users drive it: `dvc repro` (each stage a `kedro run --pipelines <name>`), then the MLflow
runs read back, a cached rerun, a second `dvc repro` that runs nothing, and a lambda change that
reruns only what depends on it."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def project(reproduced_project, tmp_path_factory):
    """A copy of the chain reproduced with DVC on the tiny test parameters (conftest), which the
    last tests here change."""
    dest = tmp_path_factory.mktemp("project") / "r2"
    shutil.copytree(reproduced_project, dest, symlinks=True)
    return dest


def test_metrics_file_maps_benchmark_method_metrics(project):
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    methods = metrics["micro"]
    expected = {f"single:t{k}" for k in range(1, 6)} | {f"tier:t{k}" for k in range(1, 6)}
    expected |= {"random", "oracle", "label_policy", "expected_oracle", "expected_oracle@bucket", "query_router",
                 "r2_sft", "r2_round_1",
                 "r2_round_2", "r2", "r2_sft@escalate=0.99", "r2_sft+recheck=0.9", "r2_sft+recheck_agree=0.9"}
    assert set(methods) == expected
    for values in methods.values():
        assert {"accuracy", "cost_usd", "prompt_tokens", "completion_tokens", "n", "cost_vs_largest"} <= set(values)
        assert values["n"] == 20 and 0 <= values["accuracy"] <= 1 and values["prompt_tokens"] > 0
    # the same plans and prompts for every single:<member>: a dearer member costs more
    assert methods["single:t5"]["cost_usd"] > methods["single:t1"]["cost_usd"] > 0
    assert methods["r2"]["router_cost_usd"] > 0
    assert methods["r2_sft@escalate=0.99"]["router_cost_usd"] > 0
    # the same plans and allocations as r2_sft, with unsure steps asked again: never cheaper
    assert methods["r2_sft+recheck=0.9"]["router_cost_usd"] == pytest.approx(methods["r2_sft"]["router_cost_usd"])
    assert methods["r2_sft+recheck=0.9"]["cost_usd"] >= methods["r2_sft"]["cost_usd"]
    agreed = methods["r2_sft+recheck_agree=0.9"]  # the same, stopping a climb where two members agree
    assert agreed["router_cost_usd"] == pytest.approx(methods["r2_sft"]["router_cost_usd"])
    assert agreed["cost_usd"] >= methods["r2_sft"]["cost_usd"]


def test_comparisons_pair_the_methods_on_the_test_questions(project):
    """method_comparisons.csv: the configured pairs, consistent with metrics.json."""
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())["micro"]
    table = pd.read_csv(project / "data/08_reporting/method_comparisons.csv")
    assert list(zip(table["method"], table["baseline"])) == [("r2", "r2_sft"), ("r2_sft", "query_router"),
                                                             ("r2_sft", "single:t5"),
                                                             ("r2_sft@escalate=0.99", "r2_sft")]
    for row in table.itertuples():
        assert row.n == 20 and row.accuracy == pytest.approx(metrics[row.method]["accuracy"])
        assert row.baseline_cost_usd == pytest.approx(metrics[row.baseline]["cost_usd"], rel=1e-5)
        assert row.accuracy_diff_low <= row.accuracy_diff <= row.accuracy_diff_high
        assert 0 <= row.mcnemar_p <= 1
    for values in metrics.values():
        assert values["accuracy_ci95_low"] <= values["accuracy"] <= values["accuracy_ci95_high"]


def test_outputs_on_disk(project):
    room = pd.read_csv(project / "data/08_reporting/headroom.csv")  # r2's lambda: its oracle, label policy, router
    assert list(room["cost_lambda"]) == [0.5] and room["room"].notna().all() and room["bucket_room"].notna().all()
    for path in ["data/08_reporting/pool_ladder.csv", "data/08_reporting/accuracy_vs_cost.png",
                 "data/07_model_output/evaluation_results.parquet", "data/06_models/pool_manifest.json",
                 "data/03_primary/step_outcomes.parquet", "data/05_model_input/allocator_sft.parquet",
                 "data/06_models/rl/round_2/allocator/model.safetensors", "data/01_raw/world_test.parquet",
                 "data/06_models/rl/sweep_2/round_2/allocator/model.safetensors"]:
        assert (project / path).stat().st_size > 0, path
    assert sorted(p.name for p in (project / "data/06_models/pool").iterdir()) == ["t1", "t2", "t3", "t4", "t5"]
    for stage in ("decomposer", "allocator"):  # strict JSON, with the loss the trainer logged last
        summary = json.loads((project / f"data/08_reporting/{stage}_sft_run.json").read_text(),
                             parse_constant=lambda name: pytest.fail(f"{stage}_sft_run.json holds {name}"))
        assert summary["final_loss"] > 0 and summary["run_id"]


def test_the_notebook_runs_on_the_outputs(project, monkeypatch):
    """notebooks/explore_results.ipynb, every code cell in order, from the notebooks folder."""
    notebook = json.loads((project / "notebooks/explore_results.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    monkeypatch.chdir(project / "notebooks")
    scope: dict = {}
    for source in cells:
        exec(compile(source, "explore_results.ipynb", "exec"), scope)  # noqa: S102  (our own notebook)
    assert len(cells) >= 5 and {"metrics", "comparisons", "ladder", "outcomes", "steps", "repriced"} <= set(scope)


def mlflow_runs(project: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name("r2-micro").experiment_id], max_results=10000)


def test_mlflow_runs_read_back(project):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("r2-micro")
    runs = client.search_runs([experiment.experiment_id], "tags.method = 'single:t5'")
    assert len(runs) == 1
    assert runs[0].data.tags["benchmark"] == "micro" and runs[0].info.run_name == "single:t5"
    assert set(runs[0].data.metrics) >= {"accuracy", "cost_usd", "prompt_tokens", "completion_tokens"}
    # what a float result depends on besides the code: runs on AVX2 and AVX512 CPUs train apart
    assert runs[0].data.tags["cpu_capability"] in {"DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256"}
    assert runs[0].data.tags["torch"].startswith("2.")
    pool_rows = pd.read_csv(project / "data/08_reporting/pool_training.csv")
    assert set(pool_rows["cpu_capability"]) == {runs[0].data.tags["cpu_capability"]}
    # a router's readings are tagged, so the UI can filter one router's frontier
    escalate = client.search_runs([experiment.experiment_id], "tags.router = 'r2_sft' and tags.rule = 'escalate'")
    assert [r.info.run_name for r in escalate] == ["r2_sft@escalate=0.99"]
    assert escalate[0].data.tags["threshold"] == "0.99"
    assert escalate[0].data.tags["recheck"] == "none"
    recheck = client.search_runs([experiment.experiment_id], "tags.recheck = '0.9' and tags.recheck_agree = 'false'")
    assert [r.info.run_name for r in recheck] == ["r2_sft+recheck=0.9"]
    agreed = client.search_runs([experiment.experiment_id], "tags.recheck_agree = 'true'")
    assert [r.info.run_name for r in agreed] == ["r2_sft+recheck_agree=0.9"]
    assert agreed[0].data.tags["recheck_alpha"] == "0.0" and escalate[0].data.tags["recheck_alpha"] == "none"
    assert client.search_runs([experiment.experiment_id], "metrics.`ladder.t1.bucket_1` >= 0")
    grpo = client.search_runs([experiment.experiment_id], "tags.phase = 'allocator' and tags.round = 'round_2'")
    assert grpo and "reward" in grpo[0].data.metrics
    # one curve run per slot, tagged with its lambda (conf/test: cost_lambda 0.5, lambda_sweep [0.2, 1.0])
    assert {(r.data.tags["sweep"], r.data.tags["cost_lambda"]) for r in grpo} == {
        ("none", "0.5"), ("sweep_1", "0.2"), ("sweep_2", "1.0")}
    stage_runs = client.search_runs([experiment.experiment_id], "attributes.run_name = 'evaluation'")
    assert stage_runs, "no run of the evaluation stage"
    artifacts = {a.path for a in client.list_artifacts(stage_runs[0].info.run_id)}
    assert {"method_comparisons.csv", "accuracy_vs_cost.png", "evaluation_results.parquet"} <= artifacts


def test_second_repro_runs_nothing_and_lambda_reruns_only_its_dependants(project, project_cli, repro_stages):
    assert repro_stages(project_cli(project, "dvc", "repro").stdout) == []
    # the objective of evaluation weighs cost at the lambda r2 trains for: both move together
    for block in ("rl_refinement", "evaluation"):
        params = project / "conf" / "base" / f"parameters_{block}.yml"
        data = yaml.safe_load(params.read_text())
        data[block]["cost_lambda"] = 1.5
        params.write_text(yaml.safe_dump(data))
    assert repro_stages(project_cli(project, "dvc", "repro").stdout) == ["rl_refinement", "evaluation"]  # nothing upstream


def test_cached_rerun_of_evaluation_from_a_subfolder_makes_no_model_call(project, project_cli):
    """Last: a plain `kedro run` rewrites outputs (wall times differ), which DVC would see.

    Run from `notebooks/`, as a notebook would: the manifest's relative member folders and the
    call cache's relative path still resolve to the project's (paths.from_root), so every call is a
    cache hit and nothing is written beside the notebooks."""
    before = sorted(p.name for p in (project / "notebooks").iterdir())
    runs = len(mlflow_runs(project))
    done = project_cli(project / "notebooks", "kedro", "run", "--pipelines", "evaluation")
    assert "'cache_misses': 0" in done.stdout + done.stderr
    assert sorted(p.name for p in (project / "notebooks").iterdir()) == before  # no mlflow.db, cache or data
    assert len(mlflow_runs(project)) > runs  # its runs went to the project's mlflow.db
