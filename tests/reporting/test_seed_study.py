"""Replication across pool seeds (reporting/seeds.py): the queued commands, the statistics, the
page section; then the whole round trip on a real git + DVC repository whose one stage writes an
evaluation's outputs from the pool seed it is given, queued and run by DVC's own queue."""

import json
import math
import re
import subprocess
import sys
import time

import mlflow
import pandas as pd
import pytest
import yaml

from r2_pipeline.reporting import seeds
from r2_pipeline.reporting.results_doc import write_results

EXPERIMENT = "seeds"  # the client fixture's (conftest.py)


def test_one_queued_experiment_per_pool_seed_sets_the_pool_seed():
    commands = seeds.queue_commands([0, 3])
    assert [c[-1] for c in commands] == ["pool-seed-0", "pool-seed-3"]
    assert commands[1][:4] == ["dvc", "exp", "run", "--queue"]
    assert commands[1][4:6] == ["-S", "conf/base/parameters_model_pool.yml:model_pool.seed=3"]


def test_router_seeds_multiply_the_experiments_and_set_every_router_seed():
    commands = seeds.queue_commands([1], [5, 6], prefix="study")
    assert [c[-1] for c in commands] == ["study-1-router-5", "study-1-router-6"]
    sets = [a for a in commands[0] if a.endswith("=5")]
    assert len(sets) == len(seeds.ROUTER_SEED_KEYS)
    assert "conf/base/parameters_rl_refinement.yml:rl_refinement.allocator.trainer.seed=5" in sets


def test_a_variant_is_set_in_every_experiment():
    tries = "conf/base/parameters_data_generation.yml:data_generation.allocation.tries=5"
    commands = seeds.queue_commands([0, 1], prefix="tries5", sets=[tries])
    assert [c[-1] for c in commands] == ["tries5-0", "tries5-1"]
    assert all(c[-4:-2] == ["-S", tries] for c in commands)
    seeds.check_sets(["conf/base/parameters_data_generation.yml:+data_generation.allocation.note=x"])  # a new key


@pytest.mark.parametrize("value, message", [
    ("tries=5", "write <parameters file>:<key>=<value>"),
    ("conf/base/parameters_data_generation.yml:data_generation.allocation.tries", "write <parameters file>"),
    ("conf/base/parameters_model_pool.yml:model_pool.seed=3", "seeds are set by --pool-seeds"),
])
def test_a_bad_variant_is_refused_by_name(value, message):
    with pytest.raises(ValueError, match=re.escape(f"--set {value!r}: {message}")):
        seeds.queue_commands([0], sets=[value])


def test_a_variant_names_a_parameters_file_of_the_project(tmp_path):
    with pytest.raises(FileNotFoundError, match="no parameters file conf/base/parameters_nope.yml in"):
        seeds.check_sets(["conf/base/parameters_nope.yml:a.b=1"], tmp_path)


def test_parameters_flatten_to_dotted_keys_and_plots_are_named_after_their_page(tmp_path):
    assert seeds.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
    assert seeds.plot_file(tmp_path / "docs" / "results.md") == seeds.PLOT
    assert seeds.plot_file(tmp_path / "docs" / "label_tries.md") == f"label_tries_{seeds.PLOT}"


@pytest.mark.parametrize("argv, message", [
    (["queue", "--pool-seeds", "-1"], "argument --pool-seeds: -1: must be at least 0"),
    (["queue", "--pool-seeds", "0", "--router-seeds", "-1"], "argument --router-seeds: -1: must be at least 0"),
    (["queue", "--pool-seeds", "0", "--jobs", "0"], "argument --jobs: 0: must be at least 1"),
])
def test_the_command_refuses_negative_seeds_and_no_workers(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        seeds.main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_report_reads_the_replicates_of_its_prefix_not_a_variant_under_a_longer_one():
    listed = ["pool-seed-1", "pool-seed-0", "pool-seed-tries5-0", "pool-seed-tries5-1", "pool-seed-0-router-2",
              "pool-seeds-3", "r6-pool-seed-0", "pool-seed-x"]
    assert seeds.replicate_names(listed) == ["pool-seed-0", "pool-seed-0-router-2", "pool-seed-1"]
    assert seeds.replicate_names(listed, "pool-seed-tries5") == ["pool-seed-tries5-0", "pool-seed-tries5-1"]
    assert seeds.replicate_names(["a.b-1", "aXb-1"], "a.b") == ["a.b-1"]  # the prefix is literal


def test_experiments_that_share_no_method_are_refused_by_name():
    def replicate(name, metrics):
        return seeds.Replicate(name, "0" * 40, 0, pd.DataFrame(), metrics, pd.DataFrame(), {})

    a = replicate("pool-seed-0", {"micro": {"r2": {"accuracy": 0.9, "cost_vs_largest": 0.3, "objective": 0.75}}})
    b = replicate("pool-seed-1", {"gsm8k": {"r2": {"accuracy": 0.5, "cost_vs_largest": 0.3, "objective": 0.35}}})
    with pytest.raises(ValueError, match=r"share no \(benchmark, method\).*pool-seed-1: gsm8k \(1 methods\)"):
        seeds.method_spread([a, b])
    assert not seeds.ran_everywhere([a, b], "micro", "r2")


def test_the_section_cites_the_command_that_wrote_it(tmp_path):
    command = f"{seeds.COMMAND} report"
    assert seeds.report_command(tmp_path, None, seeds.PREFIX, tmp_path / "docs/results.md") == command
    assert seeds.report_command(tmp_path, None, "tries5", tmp_path / "docs/label_tries.md") == (
        f"{command} --prefix tries5 --out docs/label_tries.md")
    assert seeds.report_command(tmp_path, ["a", "b"], "x", tmp_path / "docs/results.md") == f"{command} --experiments a b"


@pytest.mark.parametrize("pool, router, prefix, message", [
    ([0, 0], [], "pool-seed", "pool seeds repeat: [0]"),
    ([0], [1, 1], "pool-seed", "router seeds repeat: [1]"),
    ([], [], "pool-seed", "at least one pool seed"),
    ([0], [], "my seeds", "experiment prefix 'my seeds'"),
])
def test_bad_seed_lists_are_refused_by_name(pool, router, prefix, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        seeds.queue_commands(pool, router, prefix)


def test_the_interval_across_experiments_is_students():
    mean, low, high = seeds.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert mean - low == pytest.approx(high - mean)
    assert math.isnan(seeds.t_interval([0.5])[1]) and seeds.t_interval([0.5])[0] == 0.5


def test_the_section_replaces_its_previous_version_and_the_results_page_keeps_it(tmp_path):
    page = tmp_path / "results.md"
    page.write_text("# Results\n\nbody\n")
    seeds.write_section(page, f"{seeds.BEGIN}\nfirst\n{seeds.END}\n")
    seeds.write_section(page, f"{seeds.BEGIN}\nsecond\n{seeds.END}\n")
    text = page.read_text()
    assert "first" not in text and text.count(seeds.BEGIN) == 1 and text.startswith("# Results\n\nbody")
    reporting = tmp_path / "reporting"
    reporting.mkdir()
    (reporting / "metrics.json").write_text(json.dumps({"micro": {"single:t1": {"accuracy": 0.5, "cost_usd": 1.0}}}))
    pd.DataFrame(columns=["benchmark", "method", "baseline"]).to_csv(reporting / "method_comparisons.csv", index=False)
    pd.DataFrame([{"member": "t1", "torch": "2", "cpu_capability": "AVX2"}]).to_csv(reporting / "pool_training.csv")
    write_results(reporting, page)
    text = page.read_text()
    assert "body" not in text and "`single:t1`" in text and seeds.seeds_section(page).count("second") == 1


def _replicate(name, rows):
    room = None if rows is None else pd.DataFrame(
        [{"benchmark": "micro", "cost_lambda": lam, "router": router, "baseline": "r2_sft", "room": room,
          "gain": gain, "gain_low": low, "gain_share_of_room": gain / room} for lam, router, room, gain, low in rows])
    return seeds.Replicate(name=name, rev="0" * 40, pool_seed=int(name[-1]), results=pd.DataFrame(), metrics={},
                           training=pd.DataFrame(), evaluation={}, headroom=room)


def test_rls_room_is_reported_per_pool_and_counted_against_half_the_room():
    replicates = [_replicate("pool-seed-0", [(0.5, "r2", 0.2, 0.12, 0.05), (1.0, "r2@lambda=1", 0.2, 0.05, 0.01)]),
                  _replicate("pool-seed-1", [(0.5, "r2", 0.1, 0.04, -0.01), (2.0, "r2@lambda=2", 0.3, 0.3, 0.2)])]
    room = seeds.room_across(replicates)
    assert len(room) == 1  # only lambda 0.5 was trained in both pools
    row = room.iloc[0]
    assert (row["router"], row["cost_lambda"], row["experiments"]) == ("r2", 0.5, 2)
    assert row["room"] == pytest.approx(0.15) and row["room_each"] == "0.200,0.100"
    assert row["gain_share_of_room_each"] == "0.600,0.400"
    assert row["gain_interval_above_0"] == 1 and row["half_the_room"] == 1
    section = seeds.render(replicates, pd.DataFrame(columns=["benchmark"]), pd.DataFrame(), pd.DataFrame(), "today",
                           room=room)
    room_row = next(line for line in section.splitlines() if line.startswith("| micro | 0.5 | `r2` / `r2_sft` |"))
    assert "### RL's room in each pool" in section and room_row.endswith("| 1 of 2 | 1 of 2 |")
    # an experiment without headroom.csv: no room table, rather than one pool's numbers as the mean
    assert seeds.room_across([*replicates, _replicate("pool-seed-2", None)]).empty


# a stage standing in for the chain: an evaluation's outputs, drawn from the pool seed it is given
STAGE = '''
import json, pathlib, numpy as np, pandas as pd, yaml
seed = yaml.safe_load(open("conf/base/parameters_model_pool.yml"))["model_pool"]["seed"]
rng = np.random.default_rng(seed)
skill = {"single:t1": 0.3, "single:t5": 0.9, "query_router": 0.85, "r2_sft": 0.8, "r2": 0.84}
price = {"single:t1": 0.1, "single:t5": 1.0, "query_router": 0.9, "r2_sft": 0.3, "r2": 0.25}
rows = [{"benchmark": "micro", "method": m, "id": f"q{i}", "seed": s, "correct": float(rng.random() < p),
         "cost_usd": price[m] * (1 + 0.1 * rng.random())} for m, p in skill.items() for i in range(60) for s in (0, 1)]
table = pd.DataFrame(rows)
for d in ("data/07_model_output", "data/08_reporting"):
    pathlib.Path(d).mkdir(parents=True, exist_ok=True)
table.to_parquet("data/07_model_output/evaluation_results.parquet")
unit = table[table.method == "single:t5"].cost_usd.sum() / 2
metrics = {m: {"accuracy": g.correct.mean(), "cost_usd": g.cost_usd.sum() / 2,
               "cost_vs_largest": g.cost_usd.sum() / 2 / unit} for m, g in table.groupby("method")}
for v in metrics.values():
    v["objective"] = v["accuracy"] - 0.5 * v["cost_vs_largest"]
json.dump({"micro": metrics}, open("data/08_reporting/metrics.json", "w"))
pd.DataFrame([{"member": "t1", "torch": "2.13.0+cpu", "cpu_capability": "AVX2"}]).to_csv(
    "data/08_reporting/pool_training.csv", index=False)
room = 0.1 + 0.04 * seed
pd.DataFrame([{"benchmark": "micro", "cost_lambda": 0.5, "router": "r2", "baseline": "r2_sft", "room": room,
               "gain": 0.08, "gain_low": 0.01, "gain_share_of_room": 0.08 / room}]).to_csv(
    "data/08_reporting/headroom.csv", index=False)
'''


def run(cwd, *args):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def seed_study(tmp_path):
    """A git + DVC repository with the project's parameter layout and one stage, `evaluation`."""
    repo = tmp_path / "study"
    (repo / "conf" / "base").mkdir(parents=True)
    (repo / "conf" / "base" / "parameters_model_pool.yml").write_text(yaml.safe_dump({"model_pool": {"seed": 0, "note": "base"}}))
    evaluation = {"evaluation": {"cost_lambda": 0.5, "comparisons": {"pairs": [["r2", "largest"]], "resamples": 200}}}
    (repo / "conf" / "base" / "parameters_evaluation.yml").write_text(yaml.safe_dump(evaluation))
    (repo / "stage.py").write_text(STAGE)
    dvc_yaml = {"stages": {"evaluation": {
        "cmd": f"{sys.executable} stage.py", "deps": ["stage.py"],
        "params": [{"conf/base/parameters_model_pool.yml": None}],
        "outs": ["data/07_model_output/evaluation_results.parquet", "data/08_reporting/pool_training.csv",
                 "data/08_reporting/headroom.csv"],
        "metrics": ["data/08_reporting/metrics.json"]}}}
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml))
    run(repo, "git", "init", "-q")
    run(repo, sys.executable, "-m", "dvc", "init", "-q")
    run(repo, "git", "add", "-A")
    run(repo, "git", "-c", "user.name=r2", "-c", "user.email=r2@example.com", "commit", "-qm", "study")
    return repo


@pytest.mark.slow
@pytest.mark.integration
def test_queued_pool_seeds_are_reported_across_experiments(seed_study, client, tmp_path):
    variant = "conf/base/parameters_model_pool.yml:model_pool.note=variant"
    names = seeds.queue(seed_study, [1, 2], jobs=2, sets=[variant])
    assert names == ["pool-seed-1", "pool-seed-2"]
    deadline = time.monotonic() + 180
    while set(seeds.listed_experiments(seed_study)) != set(names) and time.monotonic() < deadline:
        time.sleep(1)
    assert set(seeds.listed_experiments(seed_study)) == set(names), run(seed_study, sys.executable, "-m", "dvc", "queue", "status")
    with pytest.raises(ValueError, match=r"experiments \['pool-seed-1'\] exist already"):
        seeds.queue(seed_study, [1], jobs=None)
    with pytest.raises(ValueError, match="no finished experiment.*pool-seed-1, pool-seed-2"):
        seeds.read_replicates(seed_study, ["pool-seed-9", "pool-seed-1"])

    page = tmp_path / "docs" / "results.md"
    section = seeds.report(seed_study, out=page, tracking=(mlflow.get_tracking_uri(), EXPERIMENT))
    assert (page.parent / seeds.PLOT).is_file() and section in page.read_text()
    assert f"Generated by `{seeds.COMMAND} report --out {page}` on " in section
    replicates = seeds.read_replicates(seed_study)
    assert [r.pool_seed for r in replicates] == [1, 2]
    assert not replicates[0].results.equals(replicates[1].results)  # each pool seed drew its own outputs
    spread = seeds.method_spread(replicates).set_index("method")
    each = [r.metrics["micro"]["r2"]["accuracy"] for r in replicates]
    assert spread.loc["r2", "accuracy"] == pytest.approx(sum(each) / 2)
    assert spread.loc["r2", "accuracy_each"] == ",".join(f"{a:.3f}" for a in each)
    claim = seeds.claims(replicates).set_index("claim").loc["R2 beats the largest member"]
    assert claim["baseline"] == "largest" and claim["experiments"] == 2
    assert claim["objective_higher"] == 2  # a quarter of the price at 0.06 less accuracy, in both pools
    assert "| `pool-seed-1` | 1 | `model_pool.note=variant` |" in section and "R2 beats the largest member" in section
    assert "`r2` | `largest`" in section  # the pooled comparisons of the evaluation's pairs
    room_row = next(line for line in section.splitlines() if line.startswith("| micro | 0.5 | `r2` / `r2_sft` |"))
    assert "| +0.160 [" in room_row and "| 0.140,0.180 |" in room_row  # each pool's headroom.csv
    assert room_row.endswith("| 2 of 2 | 1 of 2 |")  # a gain of 0.08 is half of 0.14, not of 0.18

    report = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id],
                                "tags.`r2.role` = 'seeds_report'")[0]
    assert report.data.tags["pool_seeds"] == "1,2"
    assert report.data.metrics["micro_r2_beats_the_largest_member.experiments_holding"] == 2
    artifacts = {a.path for a in client.list_artifacts(report.info.run_id)}
    assert {"seeds_report.md", seeds.PLOT, "seeds_claims.csv", "seeds_methods.csv", "seeds_room.csv"} <= artifacts
    assert report.data.metrics["micro_lambda_0_5_r2.experiments_half_the_room"] == 1
