"""The OpenAI-compatible server: pure request/response helpers and the batcher in process, then the
real server on a local port, driven with urllib and the `openai` client. The model is a fixture
(`router_model_uri`): a fake pyfunc here, swappable for the trained router; every answer is checked
against that model's own `predict`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pandas as pd
import pytest

from r2_pipeline.serving.openai_server import (
    APIError,
    Batcher,
    ChatRequest,
    chat_completion,
    parse_request,
    question_of,
    served_name,
)

KEY = "sk-serve-test-5f0c2a9d7e41"
FAKE = Path(__file__).with_name("fake_router.py")
SRC = Path(__file__).parents[2] / "src"  # the code under test, in the child process too
QUESTIONS = ["What is 12 + 30 * 2?", "add three and four", "x", "one two three four five six"]


# ---- in process -------------------------------------------------------------------------------

def test_served_name_is_the_registered_name():
    assert served_name("models:/r2-router-micro@champion") == "r2-router-micro"
    assert served_name("models:/r2-router-micro/3") == "r2-router-micro"
    assert served_name("runs:/abc/model") == "r2-router"


def test_question_is_the_last_user_message():
    chat = ChatRequest.model_validate({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "2 + "}, {"type": "text", "text": "3"}]},
    ]})
    assert question_of(chat) == "2 + 3"


def test_completion_adds_router_tokens_to_usage_and_costs_to_r2():
    row = {"answer": "42", "trace": json.dumps([{"subtask": "a", "member": "t2", "answer": "4"},
                                                {"subtask": "b", "member": "t1", "answer": "2"},
                                                {"subtask": "c", "member": "t2", "answer": "42"}]),
           "prompt_tokens": 10, "completion_tokens": 3, "cost_usd": 0.5,
           "router_prompt_tokens": 7, "router_completion_tokens": 2, "router_cost_usd": 0.25}
    body = chat_completion("r2-router", row)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "42"}
    assert body["usage"] == {"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22}
    assert body["r2"]["members"] == ["t2", "t1"]
    assert body["r2"]["total_cost_usd"] == 0.75
    assert body["r2"]["usage"]["router"] == {"prompt_tokens": 7, "completion_tokens": 2}


@pytest.mark.parametrize("raw, words", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"messages": [{"role": "user", "content": "q"}]}', "model: Field required"),
    (b'{"model": "m", "messages": "hello"}', "messages"),
    (b'{"model": "m", "messages": [], "seed": 18446744073709551616}', "seed: Input should be less than 2147483648"),
    (b'{"model": "m", "messages": [], "seed": -1}', "seed: Input should be greater than or equal to 0"),
])
def test_malformed_bodies_name_the_problem(raw, words):
    with pytest.raises(APIError) as error:
        parse_request(raw)
    assert error.value.status == 400 and words in error.value.message


def run_batcher(predict, requests, **kwargs):
    async def go():
        batcher = Batcher(predict, **kwargs)
        worker = asyncio.create_task(batcher.run())
        results = await asyncio.gather(*(batcher.submit(q, s) for q, s in requests),
                                       return_exceptions=True)
        worker.cancel()
        return batcher, results

    return asyncio.run(go())


def test_batcher_gathers_concurrent_questions_and_splits_seeds():
    calls = []

    def predict(questions, seed):
        calls.append((list(questions), seed))
        time.sleep(0.05)
        return [{"answer": f"{q}/{seed}"} for q in questions]

    requests = [(f"q{i}", i % 2) for i in range(10)]
    batcher, results = run_batcher(predict, requests, window_s=0.01, max_batch=32)
    assert [r["answer"] for r in results] == [f"{q}/{s}" for q, s in requests]
    assert (batcher.calls, batcher.questions) == (2, 10)
    assert all(int(q[1:]) % 2 == seed for questions, seed in calls for q in questions)


def test_batcher_fails_only_the_batch_whose_predict_fails():
    def predict(questions, seed):
        if "bad" in questions:
            raise RuntimeError("boom")
        return [{"answer": q} for q in questions]

    _, results = run_batcher(predict, [("bad", 0), ("good", 1)], window_s=0.01)
    assert isinstance(results[0], RuntimeError) and results[1] == {"answer": "good"}


# ---- a real server ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def router_model_uri(tmp_path_factory):
    """The model served: swap this fixture for the trained router's URI (models:/..., runs:/...)."""
    import mlflow
    from mlflow.models import infer_signature

    example = pd.DataFrame({"question": ["two words"]})
    output = pd.DataFrame([{"answer": "a", "trace": "[]", "prompt_tokens": 1, "completion_tokens": 1,
                            "cost_usd": 0.1, "router_prompt_tokens": 1,
                            "router_completion_tokens": 1, "router_cost_usd": 0.1}])
    path = tmp_path_factory.mktemp("model") / "fake_router"
    mlflow.pyfunc.save_model(path, python_model=str(FAKE),
                             signature=infer_signature(example, output, params={"seed": 0}))
    return str(path)


@pytest.fixture(scope="module")
def predicted(router_model_uri):
    """The model's own rows for a question and a seed: what every answer is checked against."""
    import mlflow

    model = mlflow.pyfunc.load_model(router_model_uri)

    def rows(questions: list[str], seed: int = 0) -> list[dict]:
        frame = model.predict(pd.DataFrame({"question": questions}), params={"seed": seed})
        return frame.to_dict("records")

    return rows


class Server:
    """`python -m r2_pipeline.serving.openai_server` as a child process, its output in a log file."""

    def __init__(self, model_uri: str, log_path: Path, name: str = "r2-test"):
        self.name, self.port, self.log_path = name, free_port(), log_path
        env = {**os.environ, "R2_SERVE_API_KEY": KEY, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
        cmd = [sys.executable, "-m", "r2_pipeline.serving.openai_server", "--model-uri", model_uri,
               "--served-model-name", name, "--port", str(self.port)]
        self.log = log_path.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/health", timeout=1):
                return
            time.sleep(0.2)
        raise RuntimeError("the server did not come up in time")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()

    def request(self, method: str, path: str, body: bytes | None = None,
                key: str | None = KEY) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def chat(self, payload: dict, key: str | None = KEY) -> tuple[int, dict]:
        return self.request("POST", "/chat/completions", json.dumps(payload).encode(), key)


@pytest.fixture(scope="module")
def server(router_model_uri, tmp_path_factory):
    server = Server(router_model_uri, tmp_path_factory.mktemp("serve") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url, api_key=KEY, max_retries=0)


def user(question: str) -> list[dict]:
    return [{"role": "system", "content": "You are a router."}, {"role": "user", "content": question}]


def expected_reply(row: dict) -> tuple:
    usage = (row["prompt_tokens"] + row["router_prompt_tokens"],
             row["completion_tokens"] + row["router_completion_tokens"])
    return row["answer"], usage, row["cost_usd"], row["router_cost_usd"], json.loads(row["trace"])


def reply(completion: dict) -> tuple:
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    r2 = completion["r2"]
    return (completion["choices"][0]["message"]["content"],
            (usage["prompt_tokens"], usage["completion_tokens"]),
            r2["cost_usd"], r2["router_cost_usd"], r2["trace"])


def serving(test):
    """A test of the real server: slow (a child process loads MLflow and the model)."""
    return pytest.mark.slow(pytest.mark.server(test))


@pytest.mark.parametrize("seed", [None, 3])
@serving
def test_answer_usage_and_cost_equal_predict(server, predicted, seed):
    payload = {"model": server.name, "messages": user(QUESTIONS[0])}
    if seed is not None:
        payload["seed"] = seed
    status, body = server.chat(payload)
    assert status == 200, body
    assert body["object"] == "chat.completion" and body["model"] == server.name
    assert reply(body) == expected_reply(predicted(QUESTIONS[:1], seed or 0)[0])


@serving
def test_openai_client_gets_the_routers_answers_concurrently(server, predicted):
    async def ask_all():
        async with openai.AsyncOpenAI(base_url=server.url, api_key=KEY, max_retries=0) as aclient:
            return await asyncio.gather(*(
                aclient.chat.completions.create(model=server.name, messages=user(q))
                for q in QUESTIONS
            ))

    completions = asyncio.run(ask_all())
    for completion, row in zip(completions, predicted(QUESTIONS), strict=True):
        assert reply(completion.model_dump()) == expected_reply(row)
        assert completion.r2["members"] == list(dict.fromkeys(s["member"] for s in completion.r2["trace"]))


@serving
def test_models_lists_the_served_name(server, client):
    assert [m.id for m in client.models.list()] == [server.name]
    assert client.models.retrieve(server.name).id == server.name
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


@serving
def test_unknown_model_is_a_404_naming_the_served_one(server, client):
    status, body = server.chat({"model": "gpt-4o", "messages": user("hi")})
    assert status == 404
    assert body["error"]["code"] == "model_not_found" and server.name in body["error"]["message"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=user("hi"))


@pytest.mark.parametrize("payload, words", [
    ({"messages": [{"role": "user", "content": "q"}]}, "model: Field required"),
    ({"model": "{name}"}, "messages: Field required"),
    ({"model": "{name}", "messages": []}, "messages is empty"),
    ({"model": "{name}", "messages": [{"role": "system", "content": "hi"}]}, "no user message"),
    ({"model": "{name}", "messages": [{"role": "user", "content": "  "}]}, "empty"),
    ({"model": "{name}", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "text"),
    ({"model": "{name}", "messages": [{"role": "user", "content": "q"}], "stream": True}, "stream"),
    ({"model": "{name}", "messages": [{"role": "user", "content": "q"}], "n": 2}, "n=2"),
])
@serving
def test_bad_requests_are_400_with_a_clear_message(server, payload, words):
    payload = {k: v.format(name=server.name) if k == "model" else v for k, v in payload.items()}
    status, body = server.chat(payload)
    assert status == 400, body
    assert words in body["error"]["message"] and body["error"]["type"] == "invalid_request_error"


@serving
def test_malformed_json_and_wrong_routes_get_openai_errors(server):
    status, body = server.request("POST", "/chat/completions", b'{"model": ')
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    assert server.request("GET", "/chat/completions")[0] == 405
    assert server.request("POST", "/completions", b"{}")[0] == 404


@serving
def test_openai_client_sees_bad_requests(server, client):
    with pytest.raises(openai.BadRequestError, match="stream"):
        client.chat.completions.create(model=server.name, messages=user("q"), stream=True)


@serving
def test_key_is_required_and_never_returned_or_logged(server):
    wrong = "sk-wrong-key-31415926"
    for key in (None, wrong):
        status, body = server.chat({"model": server.name, "messages": user("hi")}, key=key)
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert wrong not in json.dumps(body)
    # the model's error message holds the key: the client learns only its kind, the log hides it
    status, body = server.chat({"model": server.name, "messages": user("fail loudly")})
    assert status == 500 and "RuntimeError" in body["error"]["message"]
    assert KEY not in json.dumps(body)
    assert server.request("GET", "/models", key=wrong)[0] == 401
    time.sleep(0.2)  # the log line of the last request is written
    log = server.log_path.read_text()
    assert "RuntimeError: a member refused the key ***" in log
    assert KEY not in log and wrong not in log

