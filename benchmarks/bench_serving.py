"""Requests per second through `mlflow models serve` of a registered router, and whether its answers
are the evaluation's.

Usage, from the project root after `kedro run` registered a router (docs/serving.md):
    python benchmarks/bench_serving.py [--profile micro] [--questions 100] [--fresh-cache]
One server serves `models:/r2-router-<profile>@champion`. The first N test questions go out as one
batched request at the first evaluation seed, whose answers, tokens and costs are compared with the
evaluation's rows of the champion's own run (else of `--results`); then again (cached), then one
question per request, alone and from several clients at once, at a seed no evaluation used (so the
members' calls miss the cache the first time). `--fresh-cache` serves under a root of its own whose call cache starts
empty (the pool folders linked from the project), so the first batch is computed, not read back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import pandas as pd

from r2_pipeline.serving.model import CHAMPION, registered_name

BIN = Path(sys.executable).parent
UNUSED_SEED = 1009  # no evaluation runs it: the members' answers are not in the call cache yet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(model_uri: str, tracking_uri: str, root: Path, log: Path) -> Iterator[str]:
    """`mlflow models serve --env-manager local` of `model_uri` on a free port, relative folders and
    the call cache resolved against `root`: its URL while the block runs."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "R2_PROJECT_ROOT": str(root),
           "PATH": f"{BIN}:{os.environ['PATH']}"}
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local", "-h", "127.0.0.1",
           "-p", str(port), "-t", "600"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while proc.poll() is None:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ping", timeout=1):
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"mlflow models serve exited:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def ask(url: str, questions: list[str], seed: int) -> pd.DataFrame:
    body = {"dataframe_records": [{"question": q} for q in questions], "params": {"seed": seed}}
    request = urllib.request.Request(f"{url}/invocations", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return pd.DataFrame(json.loads(response.read())["predictions"])


def timed(batches: list[list[str]], ask_batch, clients: int = 1) -> float:
    """Seconds to send every batch as one request, `clients` requests at a time."""
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(ask_batch, batches))
    return time.perf_counter() - start


def compare(served: pd.DataFrame, rows: pd.DataFrame) -> dict[str, str]:
    """How many questions get the evaluation's answer, pool cost, router cost and tokens."""
    n = len(rows)

    def count(same) -> str:
        return f"{int(sum(same))}/{n}"

    return {"answers": count(served["answer"] == rows["prediction"].fillna("").to_numpy()),
            "pool cost": count(abs(served["cost_usd"] - rows["pool_cost_usd"].to_numpy()) <= 1e-12),
            "router cost": count(abs(served["router_cost_usd"] - rows["router_cost_usd"].to_numpy()) <= 1e-12),
            "tokens": count((served["prompt_tokens"] + served["router_prompt_tokens"] == rows["prompt_tokens"].to_numpy())
                            & (served["completion_tokens"] + served["router_completion_tokens"]
                               == rows["completion_tokens"].to_numpy()))}


def evaluated_rows(tracking_uri: str, name: str, world: Path, results: Path, n: int) -> tuple[pd.DataFrame, int, str]:
    """The evaluation's rows for the champion's method on the first `n` test questions, at the first
    evaluation seed, with the questions' text: from the champion's own run, else from `results` (the
    latest evaluation's table); and which of the two."""
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    version = client.get_model_version_by_alias(name, CHAMPION)
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    with tempfile.TemporaryDirectory() as tmp:
        if "evaluation_results.parquet" in artifacts:
            source = f"run {version.run_id[:8]}"
            results = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, dst_path=tmp,
                                                               artifact_path="evaluation_results.parquet",
                                                               tracking_uri=tracking_uri))
        else:
            source = str(results)
        table = pd.read_parquet(results)
    rows = table[table["method"] == version.tags["method"]]
    seed = int(rows["seed"].min())
    questions = pd.read_parquet(world).head(n)
    rows = rows[rows["seed"] == seed].set_index("id").loc[questions["id"]]
    return rows.assign(question=questions["question"].tolist()), seed, source


def fresh_root(project: Path, models: str) -> Path:
    """A root whose pool folders are the project's and whose call cache starts empty."""
    root = Path(tempfile.mkdtemp(prefix="r2-serving-"))
    (root / models).parent.mkdir(parents=True)
    (root / models).symlink_to((project / models).resolve())
    return root


def main(args: argparse.Namespace) -> None:
    project, name = Path.cwd(), registered_name(args.profile)
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}"
    rows, seed, source = evaluated_rows(tracking_uri, name, Path(args.world), Path(args.results), args.questions)
    questions = rows["question"].tolist()
    root = fresh_root(project, args.models) if args.fresh_cache else project
    log = Path(tempfile.mkdtemp(prefix="r2-serving-log-")) / "serve.log"
    with mlflow_server(f"models:/{name}@{CHAMPION}", tracking_uri, root, log) as url:
        start = time.perf_counter()
        served = ask(url, questions, seed)
        first = time.perf_counter() - start
        singles = [[q] for q in questions]
        runs = [("batched, first", 1, first),
                ("batched, cached", 1, timed([questions], lambda b: ask(url, b, seed))),
                ("one per request, first", len(questions), timed(singles, lambda b: ask(url, b, UNUSED_SEED))),
                ("one per request, cached", len(questions), timed(singles, lambda b: ask(url, b, UNUSED_SEED))),
                (f"one per request, cached, {args.clients} clients", len(questions),
                 timed(singles, lambda b: ask(url, b, UNUSED_SEED), args.clients))]
    cache = "an empty call cache" if args.fresh_cache else "the project's call cache"
    print(f"{name}@{CHAMPION}, {len(questions)} test questions, {os.cpu_count()} CPUs, {cache}")
    same = ", ".join(f"{k} {v}" for k, v in compare(served, rows).items())
    print(f"served vs evaluated ({source}, seed {seed}): {same}")
    base = len(questions) / runs[2][2]
    print(f"{'requests':<40} {'count':>6} {'seconds':>8} {'requests/s':>11} {'questions/s':>12} {'vs one/request':>15}")
    for label, count, seconds in runs:
        rate = len(questions) / seconds
        print(f"{label:<40} {count:>6} {seconds:>8.2f} {count / seconds:>11.1f} {rate:>12.1f} {rate / base:>14.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="micro", help="the registered name's profile (globals.yml `profile`)")
    parser.add_argument("--questions", type=int, default=100, help="test questions to send")
    parser.add_argument("--world", default="data/01_raw/world_test.parquet", help="the test split")
    parser.add_argument("--results", default="data/07_model_output/evaluation_results.parquet",
                        help="the evaluation's rows, where the champion's run has none")
    parser.add_argument("--models", default="data/06_models", help="the models layer, linked by --fresh-cache")
    parser.add_argument("--clients", type=int, default=4, help="clients sending at once in the last row")
    parser.add_argument("--fresh-cache", action="store_true", help="serve with an empty call cache")
    main(parser.parse_args())
