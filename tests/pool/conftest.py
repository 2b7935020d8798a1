"""A real OpenAI-compatible server for the pool tests: `transformers serve` with a tiny local model,
behind a local proxy that counts requests, tracks how many are in flight and injects faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path

import pytest
import torch
from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from r2_pipeline.training.tiny import char_tokenizer, save_model, tiny_llama

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 +=?."
# chat requests render as the bare user text, so chat and completion answer alike
CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_tiny_model(path: Path) -> Path:
    """Random weights, except that <eos> shares the direction of '=': answers stop at varied lengths."""
    tokenizer = char_tokenizer(ALPHABET)
    tokenizer.chat_template = CHAT_TEMPLATE
    model = tiny_llama(
        tokenizer, hidden_size=64, num_hidden_layers=2, max_position_embeddings=128, seed=1
    )
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[tokenizer.eos_token_id] = 1.2 * emb[tokenizer.convert_tokens_to_ids("=")]
    return save_model(model, tokenizer, path)


class TransformersServer:
    """`transformers serve` pinned to one model folder, as a child process that can be killed."""

    def __init__(self, model_dir: Path, log_path: Path):
        self.model_dir = model_dir
        self.log_path = log_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 90.0) -> None:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        cli = Path(sys.executable).with_name("transformers")
        cmd = [
            str(cli),
            "serve",
            str(self.model_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            "cpu",
        ]
        log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"transformers serve exited:\n{self.log_path.read_text()[-3000:]}"
                )
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=1) as response:
                    if response.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError("transformers serve did not come up in time")

    def ensure_up(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def requests_logged(self) -> int:
        """Requests the server itself says it received (its own log line per generation request)."""
        return self.log_path.read_text().count("[Request received]")


class FaultProxy:
    """An aiohttp reverse proxy on 127.0.0.1 in a background thread.

    `faults` is a queue: each POST takes the next entry, if any, and answers with it instead of (or,
    for `delay`, before) forwarding: {"status", "headers", "body"}, {"text"}, {"drop"}, {"delay"}.
    `answered` lists the prompts the real server answered. When the server is down the proxy drops
    the client's connection, so the client sees what it would see without the proxy (a 502 would
    say that something still answers).
    """

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.reset()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> None:
        self.requests: list[dict] = []
        self.answered: list[str] = []
        self.starts: list[float] = []
        self.faults: deque[dict] = deque()
        self.in_flight = 0
        self.max_in_flight = 0
        self.require_key: str | None = None
        self.strip_usage = False

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    async def _serve(self) -> None:
        # no keep-alive upstream: after a server restart no stale connection fails the first request
        self.session = ClientSession(
            timeout=ClientTimeout(total=60), connector=TCPConnector(force_close=True)
        )
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _shutdown(self) -> None:
        await self.runner.cleanup()
        await self.session.close()

    def posts(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]

    def prompts_sent(self) -> list[str]:
        return [_prompt_of(r["json"]) for r in self.posts()]

    async def _handle(self, request):
        body = await request.read()
        record = {
            "method": request.method,
            "path": request.path,
            "json": json.loads(body) if body else None,
        }
        self.requests.append(record)
        if (
            self.require_key
            and request.headers.get("Authorization") != f"Bearer {self.require_key}"
        ):
            given = request.headers.get("Authorization", "")[7:]
            # like some providers, echo part of the key: the backend must not pass it on
            return web.json_response(
                {"error": {"message": f"Incorrect API key provided: {given[:6]}"}}, status=401
            )
        fault = self.faults.popleft() if request.method == "POST" and self.faults else None
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.starts.append(time.monotonic())
        try:
            return await self._answer(request, record, body, fault)
        finally:
            self.in_flight -= 1

    async def _answer(self, request, record: dict, body: bytes, fault: dict | None):
        if fault and "status" in fault:
            return web.json_response(
                fault.get("body", {"error": "injected"}),
                status=fault["status"],
                headers=fault.get("headers"),
            )
        if fault and "text" in fault:
            return web.Response(
                text=fault["text"], content_type=fault.get("content_type", "application/json")
            )
        if fault and fault.get("drop"):
            request.transport.close()
            return web.Response(status=500)
        if fault and "delay" in fault:
            await asyncio.sleep(fault["delay"])
        try:
            headers = {"Content-Type": "application/json"}
            async with self.session.request(
                request.method, self.upstream + request.path_qs, data=body or None, headers=headers
            ) as up:
                data, status = await up.read(), up.status
        except ClientError:
            request.transport.close()
            return web.Response(status=500)
        if status == 200 and record["method"] == "POST":
            self.answered.append(_prompt_of(record["json"]))
            data = self._maybe_strip_usage(data)
        return web.Response(body=data, status=status, content_type="application/json")

    def _maybe_strip_usage(self, data: bytes) -> bytes:
        if not self.strip_usage:
            return data
        payload = json.loads(data)
        payload.pop("usage", None)
        return json.dumps(payload).encode()


def _prompt_of(payload: dict | None) -> str:
    if not payload:
        return ""
    if "messages" in payload:
        return payload["messages"][-1]["content"]
    return payload.get("prompt", "")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model")


@pytest.fixture(scope="session")
def live_server(tiny_model_dir, tmp_path_factory):
    server = TransformersServer(tiny_model_dir, tmp_path_factory.mktemp("serve") / "serve.log")
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def _proxy(live_server):
    proxy = FaultProxy(live_server.url)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(_proxy) -> FaultProxy:
    """The session proxy with its counters, faults and switches cleared for this test."""
    _proxy.reset()
    return _proxy


@pytest.fixture
def dead_url() -> str:
    """An address on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/v1"
