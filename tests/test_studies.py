"""The scripts of benchmarks/ and studies/, and the compare_runs command: each answers `--help`
offline, studies import no other study nor the evaluation's method-name parsers, and the studies
run end to end on a tiny project."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from r2_pipeline.analysis import parse_rules, reference_steps
from r2_pipeline.pipelines.data_generation.nodes import generate_dev, generate_world
from r2_pipeline.training.tiny import char_tokenizer, save_model, tiny_llama

ROOT = Path(__file__).parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "studies").glob("*.py"))
WORLD = {"seed": 7, "min_steps": 2, "max_steps": 3, "bucket_weights": [0.3, 0.25, 0.2, 0.15, 0.1]}
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "KEDRO_DISABLE_TELEMETRY": "1",
           "PYTHONPATH": str(ROOT / "src")}


def test_benchmarks_and_studies_are_apart():
    benchmarks = {p.stem for p in SCRIPTS if p.parent.name == "benchmarks"}
    assert {"bench_endpoint", "bench_pool_batching", "bench_parallel_members"} <= benchmarks
    assert all(name.startswith("bench_") for name in benchmarks)
    studies = {p.stem for p in SCRIPTS if p.parent.name == "studies"}
    readme = (ROOT / "studies/README.md").read_text()
    assert studies and all(f"studies/{name}.py" in readme for name in studies)


# every script asked for --help in turn in one fresh interpreter (torch imported once): a script
# passes when it exits 0 having printed its usage, and each failure is named
ANSWER_HELP = """
import contextlib, io, runpy, sys, traceback
failed = []
for target in sys.argv[1:]:
    sys.argv, out = [target, "--help"], io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            if target.endswith(".py"):
                runpy.run_path(target, run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
        failed.append(target + ": did not exit")
    except SystemExit as exit_:
        if exit_.code not in (0, None) or not out.getvalue().startswith("usage:"):
            failed.append(f"{target}: exit {exit_.code}, printed {out.getvalue()[:200]!r}")
    except Exception:
        failed.append(target + ": " + traceback.format_exc())
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


@pytest.mark.slow  # a fresh interpreter, importing torch
def test_every_script_answers_help():
    targets = [str(p) for p in SCRIPTS] + ["r2_pipeline.reporting.compare_runs"]
    done = subprocess.run([sys.executable, "-c", ANSWER_HELP, *targets], check=False, cwd=ROOT, env=OFFLINE,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.py")), ids=lambda p: p.stem)
def test_a_study_imports_no_other_study_nor_the_method_names(path):
    """What studies share is r2_pipeline.analysis; decoding rules are their own CLI options, not
    evaluation method names."""
    studies = {p.stem for p in (ROOT / "studies").glob("*.py")}
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {node.module or ""} | {f"{node.module}.{alias.name}" for alias in node.names}
    assert not {name.split(".")[0] for name in imported} & studies


def load_study(name: str):
    spec = importlib.util.spec_from_file_location(f"study_{name}", ROOT / "studies" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_project(tmp_path, tiny_member, monkeypatch):
    """conf/base as it is, over a small world with a dev split; every pool member and the allocator
    are a tiny member folder (it reads unknown characters as <unk>: weak, but it runs)."""
    shutil.copytree(ROOT / "conf/base", tmp_path / "conf/base")
    params = yaml.safe_load((ROOT / "conf/base/parameters_data_generation.yml").read_text())
    params["data_generation"]["world"] = {**WORLD, "sizes": {"train": 20, "validation": 3, "test": 5, "dev": 4}}
    (tmp_path / "conf/base/parameters_data_generation.yml").write_text(yaml.safe_dump(params))
    for folder in ("01_raw", "03_primary", "06_models", "07_model_output", "cache"):
        (tmp_path / "data" / folder).mkdir(parents=True)
    splits = generate_world(params["data_generation"])
    for name, split in zip(("train", "validation", "test", "dev"),
                           (*splits, generate_dev(*splits, params["data_generation"]))):
        split.to_parquet(tmp_path / f"data/01_raw/world_{name}.parquet")
    ladder = list(yaml.safe_load((ROOT / "conf/base/parameters_pool.yml").read_text())["pool"]["members"])
    (tmp_path / "data/06_models/pool_manifest.json").write_text(json.dumps({m: {"path": tiny_member} for m in ladder}))
    steps = reference_steps(splits[0])
    labels = [ladder[len(filled) % len(ladder)] for filled in steps["filled"]]  # one label per step
    pd.DataFrame({"filled": steps["filled"], "label": labels}).to_parquet(tmp_path / "data/03_primary/allocation_labels.parquet")
    monkeypatch.chdir(tmp_path)
    return tmp_path, ladder


@pytest.mark.slow
def test_the_studies_run_on_a_tiny_project(tiny_project, tiny_member, capsys):
    root, ladder = tiny_project
    rules = parse_rules("greedy,cheapest_likely:0.9,escalate:0.99")
    load_study("oracle_floor").main("dev")
    load_study("allocator_frontier").main([tiny_member], "dev", rules)
    load_study("confidence_cascade").main(tiny_member, "dev", rules, [0.5, 0.9])
    load_study("allocator_ceiling").main(tiny_member, "dev", rules, extra_questions=2, taus=[0.9])
    tokenizer = char_tokenizer("abcdefghijklmnopqrstuvwxyz0123456789 +-*/=$.,?")
    decomposer = save_model(tiny_llama(tokenizer, 16, 1, max_position_embeddings=512), tokenizer, root / "decomposer")
    load_study("decomposer_errors").main(str(decomposer), 1, "dev")
    load_study("decomposer_rollouts").main(str(decomposer), "dev", 4, [1.0], 2, 0)
    load_study("room_split").main("dev", 4, 2, [0.5])
    load_study("label_tries").main("dev", 4, 2, [0.5], [(1, 0.5), (3, 0.5)])
    out = capsys.readouterr().out
    assert "4 dev questions, 2 samples per subtask and member" in out and re.search(r"\| 0\.5 \| [\d.]+, ", out)
    assert "steps of 4 dev questions" in out and f"| {ladder[-1]} alone |" in out and "| escalate:0.99 |" in out
    assert re.search(r"\(\d+ of 2 extra questions\)", out) and "| unparseable | 4 | 1.000 |" in out
    assert re.search(r"\| 0\.5 \| 1 \| 0\.5 \| [\d.]+ \| [\d.]+, [\d.]+, -?[\d.]+ \|", out)  # conf/base's search first
    assert re.search(r"\| 0\.5 \| 3 \| 0\.5 \| ", out)
    assert "4 dev questions, groups of 2 plans from" in out and re.search(r"\| 1 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ", out)


def test_decomposer_rollouts_counts_the_groups_that_can_teach_merging():
    study = load_study("decomposer_rollouts")
    split, merged = ("1 + 2", "#1 * 3"), ("(1 + 2) * 3",)
    row = study.summary([[split, merged], [split, split], [merged, None]])
    assert row["distinct"] == 5 / 3  # an unparsed plan counts as one plan, as the format reward scores it
    assert row["varied"] == 2 / 3 and row["choice"] == 1 / 3
    assert row["merged"] == 2 / 5 and row["unparsed"] == pytest.approx(1 / 6)
    with pytest.raises(Exception, match="every temperature must be > 0"):
        study.temperatures("1,0")


def test_router_price_reads_a_finished_run(tiny_project, capsys):
    root, _ = tiny_project
    rows = [{"method": method, "correct": True, "cost_usd": cost, "pool_cost_usd": cost - 0.1 * tokens,
             "router_prompt_tokens": tokens, "router_completion_tokens": tokens}
            for method, cost, tokens in (("single:t5", 10.0, 0), ("r2_sft", 4.0, 20))]
    pd.DataFrame(rows).to_parquet(root / "data/07_model_output/evaluation_results.parquet")
    load_study("router_price").main()
    assert "| r2_sft | 1.000 | 20 / 20 |" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--questions", "-5"], "argument --questions: -5: must be at least 1"),
    (["--samples", "0"], "argument --samples: 0: must be at least 1"),
    (["--samples", "two"], "argument --samples: 'two' is not a whole number"),
])
def test_a_rate_study_refuses_counts_below_one_by_name(args, message, capsys):
    import argparse

    from r2_pipeline.analysis import rate_arguments

    with pytest.raises(SystemExit):
        rate_arguments(argparse.ArgumentParser()).parse_args(args)
    assert message in capsys.readouterr().err


def test_a_missing_model_folder_is_refused_before_any_member_answers(tmp_path, tiny_member, capsys):
    import argparse

    from r2_pipeline.analysis import model_folders

    model_folders(argparse.ArgumentParser(), [tiny_member])
    with pytest.raises(SystemExit):
        model_folders(argparse.ArgumentParser(), [tiny_member, str(tmp_path / "allocatr_sft")])
    err = capsys.readouterr().err
    assert "no trained model in [" in err and "allocatr_sft" in err and tiny_member not in err


def test_allocator_seeds_reads_numbers_as_kedro_and_checks_its_settings_first():
    study = load_study("allocator_seeds")
    settings = yaml.safe_load((ROOT / "conf/base/parameters_allocator_sft.yml").read_text())["allocator_sft"]
    changed = study.override(settings, ["trainer.learning_rate=3e-4", "trainer.max_steps=100", "run_name=x"])
    assert changed["trainer"]["learning_rate"] == 3e-4 and changed["trainer"]["max_steps"] == 100
    assert changed["run_name"] == "x" and settings["trainer"]["learning_rate"] == 3.0e-3  # a copy
    study.check_settings(changed, 0, trainer_only=False)
    with pytest.raises(SystemExit, match=r"allocator_sft: trainer has keys that are not SFTConfig fields: \['max_stepz'\]"):
        study.check_settings(study.override(settings, ["trainer.max_stepz=100"]), 0, trainer_only=False)
    with pytest.raises(SystemExit, match=r"allocator_sft\.trainer\.per_device_train_batch_size = 0"):
        study.check_settings(study.override(settings, ["trainer.per_device_train_batch_size=0"]), 0, trainer_only=False)
