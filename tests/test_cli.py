"""The real `kedro` command on a copy of the project: a mistyped env or pipeline stops before any
session starts, naming what exists; a command changes no tracked file and sends nothing out."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from r2_pipeline.pipeline_registry import PIPELINES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
KEDRO = Path(sys.executable).with_name("kedro")
# what a user's shell has: no test runner, no CI, no opt-out in the environment
UNSET = ("KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY", "PYTEST_CURRENT_TEST",
         "CI", "NO_PROXY", "no_proxy")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("cli") / "r2"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "mlflow.db", "mlruns", ".viz", "__pycache__", "*.egg-info"))
    return dest


def kedro(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in UNSET}
    # kedro-telemetry keeps a user id in the user's config folder: the copy's own, not the machine's
    clean.update(PYTHONPATH=str(project / "src"), HF_HUB_OFFLINE="1", XDG_CONFIG_HOME=str(project.parent / "config"),
                 **env)
    return subprocess.run([str(KEDRO), *args], cwd=project, env=clean, capture_output=True, text=True,
                          timeout=600, check=False)


def test_an_unknown_env_lists_the_envs_under_conf(project):
    done = kedro(project, "run", "--env", "no_such_env")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "no configuration environment 'no_such_env'" in done.stderr
    assert "it holds base, local, paper, test." in done.stderr
    assert not (project / "mlflow.db").exists()  # stopped before kedro-mlflow's setup
    bad = kedro(project, "run", KEDRO_ENV="nope")
    assert bad.returncode == 2 and "no configuration environment 'nope'" in bad.stderr


def test_an_unknown_pipeline_lists_the_registered_ones(project):
    done = kedro(project, "run", "--env", "test", "--pipelines", "model_pool,no_such_pipeline")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    message = " ".join(done.stderr.split())  # click wraps nothing, rich might
    assert "no registered pipeline 'no_such_pipeline'" in message
    listed = message.split("registered pipelines: ")[1].rstrip(".").split(", ")
    assert sorted(listed) == sorted([*PIPELINES, "__default__"])
    assert not (project / "mlflow.db").exists()


class Recorder:
    """An HTTP(S) proxy on 127.0.0.1 that records each request line and answers nothing: whatever a
    command tries to send through it never leaves the machine."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.lines: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.lines.append(conn.recv(300).split(b"\r\n")[0].decode(errors="replace"))
                except OSError:
                    pass


@pytest.mark.integration
def test_a_command_changes_no_tracked_file_and_sends_nothing(project):
    """`kedro catalog list-patterns` starts a session and builds the catalog: every kedro-telemetry
    hook runs, and kedro-mlflow imports MLflow (which has its own telemetry). Then, as a control,
    the same without the opt-outs: the proxy sees the usage data, and pyproject.toml gains an id."""
    proxy = Recorder()
    via = {"HTTPS_PROXY": proxy.url, "HTTP_PROXY": proxy.url, "https_proxy": proxy.url, "http_proxy": proxy.url}
    pyproject = (project / "pyproject.toml").read_text()
    done = kedro(project, "catalog", "list-patterns", "--env", "test", **via)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (project / "pyproject.toml").read_text() == pyproject
    assert proxy.lines == []
    assert "sending anonymous usage data" not in done.stdout + done.stderr
    user_id = project.parent / "config" / "kedro" / "telemetry.toml"
    assert not user_id.exists()

    (project / ".telemetry").unlink()
    control = kedro(project, "catalog", "list-patterns", "--env", "test", MLFLOW_DISABLE_TELEMETRY="false", **via)
    assert control.returncode == 0, control.stdout[-2000:] + control.stderr[-2000:]
    assert "[tool.kedro_telemetry]" in (project / "pyproject.toml").read_text()
    assert any("heapanalytics.com" in line for line in proxy.lines), proxy.lines
    assert user_id.exists()
    shutil.copy(ROOT / ".telemetry", project / ".telemetry")
    (project / "pyproject.toml").write_text(pyproject)
