"""A step's wall time with three equally slow endpoint members: asked in turn against asked at once.

Three local OpenAI-compatible servers (aiohttp on 127.0.0.1, in a process of their own, each
answering a micro member prompt exactly after a fixed delay) serve three pool members through the
real OpenAIBackend. `execute`
runs micro plans whose steps go round-robin to the three members, once with the members asked in
turn (each backend marked `concurrent = False`, the in-process path) and once at once; the traces
must be identical. Prints the seconds per step and the ratio, measured in this one run, with one
member answering its third of the rows alone for reference (what a step at once should take).

Usage: python benchmarks/bench_parallel_members.py [--delay 0.5] [--questions 24] [--steps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import socket
import time
from collections.abc import Iterator

from aiohttp import web

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.openai_backend import OpenAIBackend
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.reasoning.execute import execute
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK

MEMBERS = ("small", "medium", "large")
PRICE = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "2026-01-01", "source": "benchmark"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exact_answer(prompt: str) -> str:
    """What a perfect micro member writes to `012+034=`."""
    body, width = prompt.rstrip("="), micro.WIDTH
    step = micro.Step(int(body[:width]), body[width], int(body[width + 1 : 2 * width + 1]))
    return micro.member_answer(step)


async def complete(request: web.Request) -> web.Response:
    body = await request.json()
    await asyncio.sleep(request.app["delay_s"])
    text = exact_answer(body["prompt"])
    return web.json_response({
        "id": "cmpl", "object": "text_completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(text),
                  "total_tokens": len(body["prompt"]) + len(text)},
    })


def serve(ports: list[int], delay_s: float) -> None:
    """`/v1/completions` on each port, every answer `delay_s` after its request."""

    async def main() -> None:
        for port in ports:
            app = web.Application()
            app["delay_s"] = delay_s
            app.router.add_post("/v1/completions", complete)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def slow_servers(count: int, delay_s: float) -> Iterator[list[str]]:
    """The servers in a process of their own, as a server is: the client's work and theirs do not
    share one interpreter."""
    ports = [free_port() for _ in range(count)]
    process = multiprocessing.get_context("spawn").Process(target=serve, args=(ports, delay_s), daemon=True)
    process.start()
    try:
        for port in ports:
            wait_listening(port)
        yield [f"http://127.0.0.1:{port}/v1" for port in ports]
    finally:
        process.terminate()
        process.join()


def wait_listening(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no server came up on port {port}")


def plans(questions: int, steps: int) -> list[list[str]]:
    """Chains `a + b`, `#1 + c`, ...: every step needs the one before, as a decomposition's do."""
    return [[f"{i % 50} + {i % 7}", *(f"#{k} + {(i + k) % 9}" for k in range(1, steps))] for i in range(questions)]


def round_robin(idx, step, filled, histories) -> list[str]:
    return [MEMBERS[(i + step) % len(MEMBERS)] for i in idx]


def one_member(idx, step, filled, histories) -> list[str]:
    return [MEMBERS[-1]] * len(idx)


def timed_run(pool: ModelPool, questions: int, steps: int, allocate=round_robin) -> tuple[float, list]:
    start = time.perf_counter()
    traces = execute(pool, TASK, [f"q{i}" for i in range(questions)], plans(questions, steps), allocate,
                     SamplingParams(max_new_tokens=micro.WIDTH + 1))
    return time.perf_counter() - start, [[t.to_dict() for t in trace] for trace in traces]


def make_pool(urls: list[str], at_once: bool) -> ModelPool:
    backends = {}
    for name, url in zip(MEMBERS, urls):
        backends[name] = OpenAIBackend(url, name, name=name, max_concurrency=64)
        backends[name].concurrent = at_once  # False: the path of in-process members, one after another
    return ModelPool(backends, PriceTable.from_config({name: PRICE for name in MEMBERS}))


def main(delay_s: float, questions: int, steps: int) -> None:
    with slow_servers(len(MEMBERS), delay_s) as urls:
        timed_run(make_pool(urls, True), len(MEMBERS), 1)  # warm the client and the loop
        in_turn_s, in_turn = timed_run(make_pool(urls, False), questions, steps)
        at_once_s, at_once = timed_run(make_pool(urls, True), questions, steps)
        # one member's share of a step alone: what a step at once should take
        alone_s, _ = timed_run(make_pool(urls, True), questions // len(MEMBERS), steps, one_member)
    if at_once != in_turn:
        raise SystemExit("the traces differ between the two orders")
    right = sum(t[-1]["value"] == micro.parse_expression(t[-1]["filled"]).value for t in at_once)
    print(f"\n{len(MEMBERS)} members, each answering after {delay_s:g} s; {questions} questions x {steps} steps, "
          f"round-robin; identical traces ({right}/{questions} final answers exact)")
    print(f"| {'members':<9} | {'s per step':>10} | {'x in turn':>9} |")
    print(f"|{'-' * 11}|{'-' * 12}|{'-' * 11}|")
    for mode, seconds in (("in turn", in_turn_s), ("at once", at_once_s), ("one alone", alone_s)):
        print(f"| {mode:<9} | {seconds / steps:>10.3f} | {in_turn_s / seconds:>9.2f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=0.5, help="seconds each server takes per answer")
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    main(args.delay, args.questions, args.steps)
