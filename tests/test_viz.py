"""`kedro viz build` on a copy of the project: the static site shows every registered pipeline."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from r2_pipeline.pipeline_registry import PIPELINES

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("kedro_viz") is None,
                       reason="kedro-viz is not installed: pip install -e '.[viz]'"),
]

ROOT = Path(__file__).parents[1]


def test_the_built_site_lists_every_registered_pipeline(tmp_path):
    project = tmp_path / "r2"
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "mlflow.db", "mlruns", ".viz", "build", "__pycache__", "*.egg-info"))
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "KEDRO_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([str(Path(sys.executable).with_name("kedro")), "viz", "build"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, output
    main = project / "build" / "api" / "main"
    assert main.is_file(), output
    shown = {p["id"] for p in json.loads(main.read_text())["pipelines"]}
    assert shown == {*PIPELINES, "__default__"}
    assert (project / "build" / "index.html").is_file()
