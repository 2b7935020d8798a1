"""An OpenAI-compatible HTTP server over the trained router's MLflow model, so an existing OpenAI
client uses the router as a model: `GET /v1/models`, `POST /v1/chat/completions` with the router's
answer as the message and its costs and trace in the `r2` extension field (docs/serving.md).

    python -m r2_pipeline.serving.openai_server --model-uri models:/r2-router-micro@champion
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from r2_pipeline.pool.openai_wire import redact

logger = logging.getLogger(__name__)

API_KEY_ENV = "R2_SERVE_API_KEY"
DEFAULT_NAME = "r2-router"
# the columns of the router model's predict, one row per question
COLUMNS = (
    "answer", "trace", "prompt_tokens", "completion_tokens", "cost_usd",
    "router_prompt_tokens", "router_completion_tokens", "router_cost_usd",
)
Predict = Callable[[list[str], int], list[dict[str, Any]]]
MESSAGES, UNSUPPORTED = "messages", "unsupported_value"


class APIError(Exception):
    """A request the server refuses, answered as an OpenAI error body."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


ERROR_TYPES = {401: "authentication_error", 404: "invalid_request_error", 500: "server_error"}


def error_response(status: int, message: str, code: str | None = None, param: str | None = None):
    """OpenAI's error shape, which its clients turn into `BadRequestError`, `NotFoundError`, ..."""
    kind = ERROR_TYPES.get(status, "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat request the server reads. The others (temperature, max_tokens,
    ...) are accepted and ignored: the router's decoding is part of the model."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[Message]
    stream: bool | None = False
    n: int | None = 1
    # the router's sampling seed, as evaluation.seeds are: a bad one is a 400 here, not a failed
    # call to an endpoint member
    seed: Annotated[int, Field(ge=0, lt=2**31)] | None = None


def describe(error: ValidationError) -> tuple[str, str | None]:
    """A validation error as one message naming each bad field (never echoing its value)."""
    problems = [
        f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
        for e in error.errors(include_input=False, include_url=False)
    ]
    first = error.errors()[0]["loc"]
    return "invalid request: " + "; ".join(problems), str(first[0]) if first else None


def parse_request(raw: bytes) -> ChatRequest:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise APIError(400, f"the request body is not valid JSON ({exc})", "invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object", "invalid_json")
    try:
        return ChatRequest.model_validate(body)
    except ValidationError as exc:
        message, param = describe(exc)
        raise APIError(400, message, "invalid_value", param) from None


def question_of(request: ChatRequest) -> str:
    """The last user message is the question; system messages and earlier turns are ignored,
    since the router answers one question at a time."""
    if not request.messages:
        raise APIError(400, "messages is empty: send the question as a user message", param=MESSAGES)
    users = [m for m in request.messages if m.role == "user"]
    if not users:
        raise APIError(400, "messages holds no user message: the last one is the question", param=MESSAGES)
    content = users[-1].content
    if isinstance(content, list):
        if any(part.type != "text" for part in content):
            raise APIError(400, "only text content parts are supported", param=MESSAGES)
        content = "".join(part.text or "" for part in content)
    if not content or not content.strip():
        raise APIError(400, "the last user message is empty", param=MESSAGES)
    return content


def check_options(request: ChatRequest, takes_seed: bool) -> None:
    if request.stream:
        message = ("stream: true is not supported: the router answers once it has run every "
                   "subtask; send stream: false")
        raise APIError(400, message, UNSUPPORTED, "stream")
    if request.n is not None and request.n != 1:
        message = f"n={request.n} is not supported: the router gives one answer per request (n=1)"
        raise APIError(400, message, UNSUPPORTED, "n")
    if request.seed is not None and not takes_seed:
        message = "this router model takes no seed (its signature has no `seed` parameter)"
        raise APIError(400, message, UNSUPPORTED, "seed")


def check_key(request: Request, api_key: str | None) -> None:
    """With a key configured, every /v1 request carries it as a bearer token. The header is never
    logged nor echoed, even in part."""
    if not api_key:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        message = (f"missing or wrong API key: send `Authorization: Bearer <key>` with the key "
                   f"the server has in {API_KEY_ENV}")
        raise APIError(401, message, "invalid_api_key")


def parse_trace(trace: Any) -> list[dict]:
    return json.loads(trace) if isinstance(trace, str) else list(trace)


def usage_of(row: dict) -> dict:
    """Every token of the answer, the pool members' and the router's own (decomposer, allocator)."""
    prompt = int(row["prompt_tokens"]) + int(row["router_prompt_tokens"])
    completion = int(row["completion_tokens"]) + int(row["router_completion_tokens"])
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def tokens(row: dict, prefix: str = "") -> dict:
    return {"prompt_tokens": int(row[f"{prefix}prompt_tokens"]),
            "completion_tokens": int(row[f"{prefix}completion_tokens"])}


def r2_extension(row: dict) -> dict:
    """The `r2` field: what the answer cost and how it was made."""
    trace = parse_trace(row["trace"])
    cost, router_cost = float(row["cost_usd"]), float(row["router_cost_usd"])
    return {
        "cost_usd": cost,
        "router_cost_usd": router_cost,
        "total_cost_usd": cost + router_cost,
        "members": list(dict.fromkeys(step["member"] for step in trace)),
        "trace": trace,
        "usage": {"pool": tokens(row), "router": tokens(row, "router_")},
    }


def chat_completion(name: str, row: dict) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": str(row["answer"])},
            "finish_reason": "stop",
            "logprobs": None,
        }],
        "usage": usage_of(row),
        "r2": r2_extension(row),
    }


def model_card(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "r2-pipeline"}


@dataclass
class Pending:
    question: str
    seed: int
    future: asyncio.Future


class Batcher:
    """Gathers concurrent questions into one predict call, since the routed reasoner batches its
    model calls. One predict runs at a time, in a worker thread, so the event loop keeps taking
    requests meanwhile; they form the next batch. Questions of different seeds go in separate calls
    (the seed is a predict parameter). A failed call is logged once, without `secrets`."""

    def __init__(self, predict: Predict, window_s: float = 0.005, max_batch: int = 32,
                 secrets: tuple[str | None, ...] = ()):
        self.predict, self.window_s, self.max_batch = predict, window_s, max_batch
        self.secrets = secrets
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.calls = self.questions = 0

    async def submit(self, question: str, seed: int) -> dict:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put(Pending(question, seed, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.window_s:
                await asyncio.sleep(self.window_s)
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            by_seed: dict[int, list[Pending]] = {}
            for pending in batch:
                by_seed.setdefault(pending.seed, []).append(pending)
            for seed, group in by_seed.items():
                await self.answer(group, seed)

    async def answer(self, group: list[Pending], seed: int) -> None:
        live = [p for p in group if not p.future.done()]  # a client that hung up needs no answer
        if not live:
            return
        self.calls, self.questions = self.calls + 1, self.questions + len(live)
        try:
            rows = await asyncio.to_thread(self.predict, [p.question for p in live], seed)
            if len(rows) != len(live):
                raise ValueError(f"predict gave {len(rows)} rows for {len(live)} questions")
        except Exception as exc:  # every waiting request hears of it; the loop goes on
            logger.error("predict failed on %d questions:\n%s", len(live),
                         redact(traceback.format_exc(), *self.secrets))
            rows = [exc] * len(live)
        for pending, row in zip(live, rows):
            if pending.future.done():
                continue
            if isinstance(row, Exception):
                pending.future.set_exception(row)
            else:
                pending.future.set_result(row)


def create_app(
    predict: Predict, name: str, *, takes_seed: bool = True, seed: int = 0,
    api_key: str | None = None, window_s: float = 0.005, max_batch: int = 32,
) -> Starlette:
    """The ASGI app; `predict(questions, seed)` returns one row of `COLUMNS` per question."""
    batcher = Batcher(predict, window_s, max_batch, secrets=(api_key,))

    async def list_models(request: Request):
        check_key(request, api_key)
        return JSONResponse({"object": "list", "data": [model_card(name)]})

    async def get_model(request: Request):
        check_key(request, api_key)
        check_model(request.path_params["model"])
        return JSONResponse(model_card(name))

    def check_model(requested: str) -> None:
        if requested != name:
            message = f"the model '{requested}' does not exist; this server serves '{name}'"
            raise APIError(404, message, "model_not_found", "model")

    async def chat_completions(request: Request):
        check_key(request, api_key)
        chat = parse_request(await request.body())
        check_model(chat.model)
        check_options(chat, takes_seed)
        question = question_of(chat)
        try:
            row = await batcher.submit(question, seed if chat.seed is None else chat.seed)
        except Exception as exc:  # the log has the traceback; the client learns the kind of failure
            message = f"the router failed to answer ({type(exc).__name__}); the server log says why"
            raise APIError(500, message) from None
        return JSONResponse(chat_completion(name, row))

    async def health(request: Request):
        return JSONResponse({"status": "ok", "model": name})

    async def api_error(request: Request, exc: APIError):
        return error_response(exc.status, exc.message, exc.code, exc.param)

    async def http_error(request: Request, exc: HTTPException):
        return error_response(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()

    app = Starlette(
        routes=[
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        exception_handlers={APIError: api_error, HTTPException: http_error},
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    return app


def served_name(model_uri: str) -> str:
    """A registry URI's model name (`models:/r2-router-micro@champion` -> `r2-router-micro`), else
    `r2-router`."""
    if model_uri.startswith("models:/"):
        return model_uri.removeprefix("models:/").strip("/").split("/")[0].split("@")[0]
    return DEFAULT_NAME


def check_outputs(model) -> None:
    """A model whose signature lists its outputs must give every column the server reads."""
    signature = model.metadata.signature
    outputs = signature.outputs if signature else None
    if outputs is not None and outputs.has_input_names():
        missing = [c for c in COLUMNS if c not in outputs.input_names()]
        if missing:
            raise click.ClickException(f"the model's outputs lack {', '.join(missing)}; "
                                       f"a router model gives {', '.join(COLUMNS)}")


def load_router(model_uri: str) -> tuple[Predict, bool]:
    """The MLflow model as `predict(questions, seed) -> rows`, and whether it takes a seed."""
    import mlflow
    import pandas as pd

    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except Exception as exc:
        raise click.ClickException(f"cannot load the router model '{model_uri}': {exc}") from None
    check_outputs(model)
    params = model.metadata.get_params_schema()
    takes_seed = params is not None and "seed" in {p.name for p in params.params}

    def predict(questions: list[str], seed: int) -> list[dict]:
        params = {"seed": seed} if takes_seed else None
        frame = model.predict(pd.DataFrame({"question": questions}), params=params)
        missing = [c for c in COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"the router model's predict lacks the columns {', '.join(missing)}")
        return frame.to_dict("records")

    return predict, takes_seed


@click.command()
@click.option("--model-uri", required=True,
              help="models:/<name>@champion, runs:/<run id>/<path> or a model folder.")
@click.option("--served-model-name",
              help="The name clients send as `model` [default: the registered name, else r2-router].")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int,
              help="predict's seed for a request that sends none.")
@click.option("--batch-window-ms", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="How long the first question of a batch waits for others.")
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(min=1),
              help="Most questions in one predict call.")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", default="sqlite:///mlflow.db",
              show_default=True, help="Where models:/ and runs:/ URIs are looked up.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def main(model_uri, served_model_name, host, port, seed, batch_window_ms, max_batch, tracking_uri,
         log_level):
    """Serve the router model as an OpenAI-compatible endpoint. With R2_SERVE_API_KEY set, every
    /v1 request must send it as `Authorization: Bearer <key>` (an environment variable, never an
    option: options show in the process list)."""
    import mlflow
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    mlflow.set_tracking_uri(tracking_uri)
    predict, takes_seed = load_router(model_uri)
    name = served_model_name or served_name(model_uri)
    api_key = os.environ.get(API_KEY_ENV) or None
    access = "API key required" if api_key else f"no API key: set {API_KEY_ENV} to require one"
    logger.info("serving %s as '%s' on http://%s:%d/v1 (%s)", model_uri, name, host, port, access)
    app = create_app(predict, name, takes_seed=takes_seed, seed=seed, api_key=api_key,
                     window_s=batch_window_ms / 1000, max_batch=max_batch)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


if __name__ == "__main__":
    main()
