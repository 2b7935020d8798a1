"""Requests per second through the OpenAI-compatible server at concurrency 1, 8 and 32, with and
without gathering concurrent requests into one predict call (with and without a 5 ms window), as a ratio to calling the model's
`predict` directly, one question at a time, in process.

By default the model is a fake router saved here: `instant` (predict costs next to nothing: the
server's own overhead) and `20ms/call` (a stand-in for the routed reasoner, whose batch of questions
costs about one call). `--model-uri` measures a real router model instead (`--question` sets what it
is asked).

    python benchmarks/bench_openai_server.py [--model-uri models:/r2-router-micro@champion] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import mlflow
import pandas as pd
from mlflow.models import infer_signature

FAKE_CODE = '''
import json, time
import mlflow, pandas as pd

class Fake(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        time.sleep({delay_s})
        return pd.DataFrame([{{
            "answer": q[::-1], "trace": json.dumps([{{"subtask": q, "member": "t1", "answer": q}}]),
            "prompt_tokens": 10, "completion_tokens": 3, "cost_usd": 1e-6,
            "router_prompt_tokens": 20, "router_completion_tokens": 5, "router_cost_usd": 1e-7,
        }} for q in model_input["question"]])

mlflow.models.set_model(Fake())
'''
CONCURRENCY = (1, 8, 32)
# how predict calls are formed: one question each; whatever queued while the last call ran; that,
# after the first question of a batch waited 5 ms for company
BATCHING = {
    "off": ["--max-batch", "1", "--batch-window-ms", "0"],
    "0ms": ["--batch-window-ms", "0"],
    "5ms": ["--batch-window-ms", "5"],
}


def fake_model(folder: Path, delay_s: float) -> str:
    code = folder / f"fake_{delay_s}.py"
    code.write_text(FAKE_CODE.format(delay_s=delay_s))
    example = pd.DataFrame({"question": ["q"]})
    output = pd.DataFrame([{"answer": "a", "trace": "[]", "prompt_tokens": 1, "completion_tokens": 1,
                            "cost_usd": 0.1, "router_prompt_tokens": 1,
                            "router_completion_tokens": 1, "router_cost_usd": 0.1}])
    path = folder / f"model_{delay_s}"
    mlflow.pyfunc.save_model(path, python_model=str(code),
                             signature=infer_signature(example, output, params={"seed": 0}))
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(model_uri: str, extra: list[str]):
    port = free_port()
    cmd = [sys.executable, "-m", "r2_pipeline.serving.openai_server", "--model-uri", model_uri,
           "--port", str(port), "--served-model-name", "bench", "--log-level", "warning", *extra]
    env = {k: v for k, v in os.environ.items() if k != "R2_SERVE_API_KEY"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", proc)
        yield f"http://127.0.0.1:{port}/v1/chat/completions"
    finally:
        proc.terminate()
        proc.wait()


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not come up")


async def requests_per_second(url: str, question: str, concurrency: int, n: int) -> float:
    """`concurrency` clients, each sending its share of `n` requests one after another."""
    payload = {"model": "bench", "messages": [{"role": "user", "content": question}]}

    async def client(session: aiohttp.ClientSession, count: int) -> None:
        for _ in range(count):
            async with session.post(url, json=payload) as response:
                response.raise_for_status()
                await response.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        await client(session, 2)  # warm: connection, first predict
        start = time.perf_counter()
        shares = [n // concurrency + (i < n % concurrency) for i in range(concurrency)]
        await asyncio.gather(*(client(session, share) for share in shares))
        return n / (time.perf_counter() - start)


def direct_rate(model_uri: str, question: str, n: int) -> float:
    """The baseline: `predict` on one question per call, in process, no HTTP."""
    model = mlflow.pyfunc.load_model(model_uri)
    frame = pd.DataFrame({"question": [question]})
    model.predict(frame, params={"seed": 0})
    start = time.perf_counter()
    for _ in range(n):
        model.predict(frame, params={"seed": 0})
    return n / (time.perf_counter() - start)


def measure(label: str, model_uri: str, question: str, n: int) -> list[tuple]:
    base = direct_rate(model_uri, question, max(n // 4, 10))
    rows = [(label, "direct predict", "-", 1, base, 1.0)]
    for batching, extra in BATCHING.items():
        with serve(model_uri, extra) as url:
            for concurrency in CONCURRENCY:
                rps = asyncio.run(requests_per_second(url, question, concurrency, n))
                rows.append((label, "server", batching, concurrency, rps, rps / base))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-uri", help="a router model; default: the fake routers")
    parser.add_argument("--question", default="What is 12 + 30 * 2?")
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model_uri:
            # where the server looks a models:/ URI up too
            mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
            models = {"router": args.model_uri}
        else:
            models = {"instant": fake_model(Path(tmp), 0.0), "20ms/call": fake_model(Path(tmp), 0.02)}
        rows = [row for label, uri in models.items()
                for row in measure(label, uri, args.question, args.requests)]
    print(f"{'model':<12} {'path':<15} {'batching':<9} {'clients':>7} {'req/s':>9} {'x direct':>9}")
    for label, path, batching, concurrency, rps, ratio in rows:
        print(f"{label:<12} {path:<15} {batching:<9} {concurrency:>7} {rps:>9.1f} {ratio:>9.2f}")


if __name__ == "__main__":
    main()
