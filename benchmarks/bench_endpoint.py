"""Requests per second through OpenAIBackend at concurrency 1, 4 and 16, as a ratio to sequential calls.

By default starts `transformers serve` on 127.0.0.1 with a tiny random model; `--base-url` and
`--model` point it at a server already running (a `vllm serve`, say).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import openai

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.openai_backend import OpenAIBackend
from r2_pipeline.training.tiny import char_tokenizer, save_model, tiny_llama


def tiny_model(path: Path) -> Path:
    tokenizer = char_tokenizer("abcdefghijklmnopqrstuvwxyz0123456789 ")
    return save_model(
        tiny_llama(tokenizer, hidden_size=64, num_hidden_layers=2, max_position_embeddings=128),
        tokenizer,
        path,
    )


@contextlib.contextmanager
def local_server(model_dir: Path, port: int, extra_args: list[str]):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cli = str(Path(sys.executable).with_name("transformers"))
    cmd = [
        cli,
        "serve",
        str(model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        *extra_args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/models", proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait()


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not come up")


def prompts(n: int, tag: str) -> list[str]:
    return [f"{tag} request {i}" for i in range(n)]


def sequential_rps(base_url: str, model: str, n: int, sampling: SamplingParams) -> float:
    """The baseline: a plain loop of blocking calls on one sync client (connections kept alive)."""
    client = openai.OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
    start = time.perf_counter()
    for prompt in prompts(n, "seq"):
        client.completions.create(
            model=model, prompt=prompt, max_tokens=sampling.max_new_tokens, temperature=0.0
        )
    return n / (time.perf_counter() - start)


def one_by_one_rps(backend: OpenAIBackend, n: int, sampling: SamplingParams) -> float:
    """The pool used badly: one generate() per prompt pays a client and an event loop each time."""
    start = time.perf_counter()
    for prompt in prompts(n, "one"):
        backend.generate([prompt], sampling)
    return n / (time.perf_counter() - start)


def batch_rps(
    base_url: str, model: str, concurrency: int, n: int, sampling: SamplingParams
) -> float:
    backend = OpenAIBackend(base_url, model, max_concurrency=concurrency)
    start = time.perf_counter()
    backend.generate(prompts(n, f"c{concurrency}"), sampling)
    return n / (time.perf_counter() - start)


def run(base_url: str, model: str, n: int, max_new_tokens: int) -> list[tuple[str, float, float]]:
    sampling = SamplingParams(max_new_tokens=max_new_tokens)
    OpenAIBackend(base_url, model).generate(["warm up"], sampling)
    base = sequential_rps(base_url, model, n, sampling)
    rows = [("sequential calls", base, 1.0)]
    one = one_by_one_rps(OpenAIBackend(base_url, model), n, sampling)
    rows.append(("generate() per prompt", one, one / base))
    for concurrency in (1, 4, 16):
        rps = batch_rps(base_url, model, concurrency, n, sampling)
        rows.append((f"backend, concurrency {concurrency}", rps, rps / base))
    return rows


def print_table(title: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"| {'mode':<24} | {'req/s':>7} | {'x sequential':>12} |")
    print(f"|{'-' * 26}|{'-' * 9}|{'-' * 14}|")
    for mode, rps, ratio in rows:
        print(f"| {mode:<24} | {rps:>7.1f} | {ratio:>12.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint already running")
    parser.add_argument("--model", help="model id at --base-url")
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--port", type=int, default=18777)
    parser.add_argument("--server-args", default="", help="extra `transformers serve` flags")
    args = parser.parse_args()
    if args.base_url:
        print_table(
            f"{args.model} at {args.base_url}",
            run(args.base_url, args.model, args.requests, args.max_new_tokens),
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = tiny_model(Path(tmp) / "tiny")
        with local_server(model_dir, args.port, args.server_args.split()) as url:
            title = f"transformers serve {args.server_args} (tiny Llama, CPU, {args.requests} requests x {args.max_new_tokens} tokens)"
            print_table(title, run(url, str(model_dir), args.requests, args.max_new_tokens))


if __name__ == "__main__":
    main()
