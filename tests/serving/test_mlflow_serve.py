"""`mlflow models serve` of the champion router, for real: the chain reproduced on the test
parameters (conftest.py reproduced_project) registered its final router; one server answers batched
JSON requests with the answers, tokens and costs of that version's own evaluation run, refuses
malformed requests with a 4xx, and never returns or logs a key."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from r2_pipeline.serving.model import CHAMPION, registered_name

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.server]

BIN = Path(sys.executable).parent
NAME = registered_name("micro")  # the chain copies conf/test's parameters over conf/base, whose profile it keeps
SECRET = "sk-serve-test-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: bytes | str | dict) -> tuple[int, str]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body if isinstance(body, bytes) else body.encode()
    request = urllib.request.Request(f"{url}/invocations", data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture(scope="module")
def server(reproduced_project, tmp_path_factory):
    """The champion served with the project's pool folders under a root of its own, whose call cache
    starts empty: every answer is computed afresh. A key sits in the server's environment."""
    project = reproduced_project
    root = tmp_path_factory.mktemp("served")
    (root / "data").mkdir()
    (root / "data" / "06_models").symlink_to(project / "data" / "06_models")
    port, log = free_port(), root / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}", "R2_PROJECT_ROOT": str(root),
           "PATH": f"{BIN}:{os.environ['PATH']}", "OPENAI_API_KEY": SECRET, "R2_SERVE_TEST_KEY": SECRET}
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}@{CHAMPION}", "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        yield url, log, root
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen, log: Path, route: str = "/ping", timeout_s: float = 240) -> None:
    """Until the server's `route` answers 200 (mlflow models serve: /ping; the OpenAI-compatible
    server: /health); its log if it exits or does not come up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}{route}", timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{proc.args[:4]} did not come up:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def evaluated(reproduced_project, tmp_path_factory) -> pd.DataFrame:
    """The champion's own evaluation run's rows for its method, at the first evaluation seed, with
    each question's text, in the test split's order."""
    project = reproduced_project
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    version = client.get_model_version_by_alias(NAME, CHAMPION)
    table = mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path="evaluation_results.parquet",
                                                dst_path=str(tmp_path_factory.mktemp("evaluated")),
                                                tracking_uri=client.tracking_uri)
    rows = pd.read_parquet(table)
    rows = rows[(rows["method"] == version.tags["method"]) & (rows["seed"] == 0)].set_index("id")
    world = pd.read_parquet(project / "data" / "01_raw" / "world_test.parquet")
    return rows.loc[world["id"]].assign(question=world["question"].tolist())


def test_served_answers_and_costs_are_the_evaluations(server, evaluated):
    url, _, root = server
    status, body = post(url, {"dataframe_records": [{"question": q} for q in evaluated["question"]]})
    assert status == 200, body
    served = pd.DataFrame(json.loads(body)["predictions"])
    assert len(served) == len(evaluated) == 20
    assert served["answer"].tolist() == evaluated["prediction"].fillna("").tolist()
    assert served["cost_usd"].tolist() == pytest.approx(evaluated["pool_cost_usd"].tolist(), rel=1e-9, abs=1e-15)
    assert served["router_cost_usd"].tolist() == pytest.approx(evaluated["router_cost_usd"].tolist(), rel=1e-9)
    for side in ("prompt", "completion"):
        router = evaluated[f"router_{side}_tokens"].to_numpy()
        assert served[f"router_{side}_tokens"].tolist() == router.tolist()
        assert (served[f"{side}_tokens"] + router).tolist() == evaluated[f"{side}_tokens"].tolist()
    assert served["router_prompt_tokens"].gt(0).all() and served["router_cost_usd"].gt(0).all()
    members = [",".join(str(s["member"]) for s in json.loads(trace)) for trace in served["trace"]]
    assert members == evaluated["members"].fillna("").tolist()
    # computed here, not read from the project's call cache: the server's root has a cache of its own
    assert (root / "data" / "cache" / "calls.sqlite").exists()
    again = post(url, {"dataframe_split": {"columns": ["question"], "data": [[q] for q in evaluated["question"][:3]]},
                       "params": {"seed": 0}})
    assert again[0] == 200 and json.loads(again[1])["predictions"] == json.loads(body)["predictions"][:3]


@pytest.mark.parametrize("body", [
    {"dataframe_records": [{"q": "What is 2 + 3?"}]},
    {"questions": ["What is 2 + 3?"]},
    {"dataframe_records": [{"question": "What is 2 + 3?"}], "params": {"seed": "zero"}},
    b"{not json",
])
def test_a_malformed_request_gets_a_4xx(server, body):
    status, text = post(server[0], body)
    assert 400 <= status < 500, text
    assert SECRET not in text


def test_the_server_never_returns_or_logs_a_key(server, evaluated):
    url, log, _ = server
    status, body = post(url, {"dataframe_records": [{"question": evaluated["question"].iloc[0]}]})
    assert status == 200 and SECRET not in body
    text = log.read_text()
    assert "/invocations" in text and SECRET not in text


def test_the_openai_compatible_server_answers_with_the_champions_evaluation(reproduced_project, evaluated,
                                                                            tmp_path_factory):
    """The same champion behind `python -m r2_pipeline.serving.openai_server`: each chat completion is
    that question's evaluation row (answer, pool and router cost, tokens); an unknown model is a 404;
    no key is returned or logged."""
    root = tmp_path_factory.mktemp("openai_served")
    (root / "data").mkdir()
    (root / "data" / "06_models").symlink_to(reproduced_project / "data" / "06_models")
    port, log = free_port(), root / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{reproduced_project / 'mlflow.db'}",
           "R2_PROJECT_ROOT": str(root), "OPENAI_API_KEY": SECRET}
    cmd = [sys.executable, "-m", "r2_pipeline.serving.openai_server", "--model-uri", f"models:/{NAME}@{CHAMPION}",
           "--host", "127.0.0.1", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log, route="/health")

        def chat(model: str, question: str) -> tuple[int, dict]:
            body = json.dumps({"model": model, "seed": 0, "messages": [{"role": "user", "content": question}]})
            request = urllib.request.Request(f"{url}/v1/chat/completions", body.encode(),
                                             {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        for _, row in evaluated.head(5).iterrows():
            status, reply = chat(NAME, row["question"])
            assert status == 200, reply
            assert reply["choices"][0]["message"]["content"] == ("" if pd.isna(row["prediction"]) else row["prediction"])
            assert reply["r2"]["cost_usd"] == pytest.approx(row["pool_cost_usd"], rel=1e-9, abs=1e-15)
            assert reply["r2"]["router_cost_usd"] == pytest.approx(row["router_cost_usd"], rel=1e-9)
            assert reply["usage"]["prompt_tokens"] == row["prompt_tokens"]
            assert reply["usage"]["completion_tokens"] == row["completion_tokens"]
        status, reply = chat("gpt-4o", evaluated["question"].iloc[0])
        assert status == 404 and NAME in reply["error"]["message"]
        assert SECRET not in log.read_text()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
