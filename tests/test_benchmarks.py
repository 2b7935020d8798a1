"""The scripts of benchmarks/ and studies/, and the compare_runs command: each answers `--help`
offline, and studies import no other study nor the evaluation's method-name parsers."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "studies").glob("*.py"))
OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "KEDRO_DISABLE_TELEMETRY": "1",
           "PYTHONPATH": str(ROOT / "src")}


def test_benchmarks_and_studies_are_apart():
    assert {p.stem for p in SCRIPTS if p.parent.name == "benchmarks"} == {"bench_endpoint", "bench_pool_batching"}
    studies = {p.stem for p in SCRIPTS if p.parent.name == "studies"}
    readme = (ROOT / "studies/README.md").read_text()
    assert studies and all(f"studies/{name}.py" in readme for name in studies)


@pytest.mark.parametrize("command", [[str(p)] for p in SCRIPTS] + [["-m", "r2_pipeline.reporting.compare_runs"]],
                         ids=[p.stem for p in SCRIPTS] + ["compare_runs"])
def test_every_script_answers_help(command):
    done = subprocess.run([sys.executable, *command, "--help"], check=False, cwd=ROOT, env=OFFLINE, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


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
    assert not any(name.startswith("r2_pipeline.reasoning.methods") for name in imported)
