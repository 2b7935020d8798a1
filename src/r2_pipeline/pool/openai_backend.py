"""Any OpenAI-compatible endpoint (a vLLM server, an API provider, a local server) as a pool member.

One request per prompt, sent concurrently under the member's limits, retried on transient failures;
every answer is handed to `on_result` as it arrives so the pool can cache it before the batch ends.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai

from ..paths import from_root
from .base import Completion, SamplingParams
from .ratelimit import BatchStopped, RateLimiter, bucket_for, token_bucket_for

logger = logging.getLogger(__name__)

STYLES = ("completion", "chat")
# tokens a chat request adds around its one user message (OpenAI's cookbook counts 3 per message and
# 3 to prime the reply); a tokens-per-minute estimate only
CHAT_FRAMING_TOKENS = 6
OnResult = Callable[[int, Completion], None]


class EndpointError(RuntimeError):
    """A call that retrying cannot fix: refused key, unknown model, bad request, retries spent."""


class EndpointUnreachable(EndpointError):
    """Nothing answered at the endpoint's address."""


class _Transient(Exception):
    """A failure worth retrying; `retry_after` is the server's own wait, when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def redact(text: str, *secrets: Any) -> str:
    """Keys never reach an error message, whatever a server or client library echoed.

    A short key (a local server's placeholder such as "EMPTY" or "x") is replaced only where it
    stands as a whole token, so it cannot garble the rest of the message.
    """
    for secret in map(str, filter(None, secrets)):
        if secret == "EMPTY":
            continue
        if len(secret) >= 8:
            text = text.replace(secret, "***")
        else:
            text = re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", "***", text)
    return text


def endpoint_fingerprint(
    base_url: str, model: str, style: str, extra_body: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
) -> str:
    """Cache identity of an endpoint's model; style is included because chat wraps the prompt, and
    `extra_body` (vLLM's `top_k`, `repetition_penalty`, chat template arguments) because it changes
    the answers. A URL and a name say nothing of the weights behind them: `weights`, the local
    folder our own server serves, adds its files' hash, so a retrained model is never answered
    from the old one's cache."""
    parts = [base_url.rstrip("/"), model, style]
    if extra_body:
        parts.append(json.dumps(extra_body, sort_keys=True, default=str))
    if weights is not None:
        from .local import folder_fingerprint  # noqa: PLC0415  (torch only for members that name weights)

        if not Path(from_root(weights)).is_dir():
            raise ValueError(f"weights {str(weights)!r} is not a folder: name the local model folder the "
                             "endpoint serves (its files' hash joins the cache key)")
        parts.append("weights=" + folder_fingerprint(from_root(weights)))
    payload = "\x1f".join(parts)
    return "openai-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def request_params(sampling: SamplingParams, style: str) -> dict[str, Any]:
    """Keyword arguments of one create() call; sampling-only fields are sent only when sampling."""
    params: dict[str, Any] = {
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
    }
    if not sampling.greedy:
        params.update(top_p=sampling.top_p, seed=sampling.seed)
    if sampling.stop:
        params["stop"] = list(sampling.stop)
    if sampling.logprobs or sampling.top_logprobs:
        # completions ask for the top-k alongside the chosen token; 1 is the smallest every server takes
        params["logprobs"] = True if style == "chat" else max(1, sampling.top_logprobs)
        if style == "chat" and sampling.top_logprobs:
            params["top_logprobs"] = sampling.top_logprobs
    return params


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a server asked for: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if not headers:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else max(0.0, email.utils.mktime_tz(parsed) - time.time())


def run_sync(make_coro: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine from sync code; in a worker thread when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(lambda: asyncio.run(make_coro())).result()


async def run_batch(coros: list[Awaitable[None]], limiter: RateLimiter) -> None:
    """Run all; the first error closes the batch (no new requests, those in flight finish), then raises."""

    async def guarded(coro: Awaitable[None]) -> None:
        try:
            await coro
        except BaseException:
            limiter.close()
            raise

    outcomes = await asyncio.gather(*(guarded(c) for c in coros), return_exceptions=True)
    errors = [
        o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, BatchStopped)
    ]
    if errors:
        raise errors[0]


class OpenAIBackend:
    """A model behind an OpenAI-compatible HTTP API; the key is read from `api_key_env` when needed."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        api_key: str | None = None,
        style: str = "completion",
        max_concurrency: int = 8,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        tokenizer_path: str | Path | None = None,
        weights: str | Path | None = None,
        fingerprint: str | None = None,
        name: str | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        extra_body: Mapping[str, Any] | None = None,
    ):
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.style = style
        self.name = name
        self.api_key_env = api_key_env
        self._api_key = api_key
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.extra_body = dict(extra_body) if extra_body else None
        self.tokenizer_path = tokenizer_path
        self.fingerprint = fingerprint or endpoint_fingerprint(self.base_url, model, style, self.extra_body, weights)
        self._bucket = bucket_for(requests_per_minute, max_concurrency)
        self.tokens_per_minute = tokens_per_minute
        self._token_bucket = token_bucket_for(tokens_per_minute)
        self._tokenizer: Any = None
        self._warned_estimate = False

    def __repr__(self) -> str:
        return (
            f"OpenAIBackend(name={self.name!r}, base_url={self.base_url!r}, model={self.model!r}, "
            f"style={self.style!r}, api_key_env={self.api_key_env!r})"
        )

    # ----- identity and secrets -----

    def _where(self) -> str:
        member = f"pool member {self.name!r}: " if self.name else ""
        return f"{member}model {self.model!r} at {self.base_url}"

    def _key(self) -> str:
        if self._api_key:
            return self._api_key
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise EndpointError(
                    f"{self._where()}: environment variable {self.api_key_env} is not set"
                )
            return key
        return (
            "EMPTY"  # local servers (vLLM, transformers serve) accept any key; the client wants one
        )

    def _redact(self, text: str) -> str:
        return redact(text, self._api_key, os.environ.get(self.api_key_env) if self.api_key_env else None)

    def _client(self, timeout_s: float | None = None) -> openai.AsyncOpenAI:
        # retries are ours: the client's own would hide attempts from the limiter and the log
        return openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self._key(),
            timeout=timeout_s or self.timeout_s,
            max_retries=0,
        )

    # ----- public API -----

    def generate(
        self, prompts: list[str], sampling: SamplingParams, on_result: OnResult | None = None
    ) -> list[Completion]:
        """Answer every prompt; `on_result(i, completion)` fires as each answer arrives."""
        if not prompts:
            return []
        return run_sync(lambda: self._generate_all(prompts, sampling, on_result))

    def check(self, require_model: bool = True) -> list[str]:
        """Fail fast before a run: the endpoint must answer /models (and list the model)."""
        ids = run_sync(self._list_models)
        if require_model and self.model not in ids:
            raise EndpointError(
                f"{self._where()}: the endpoint does not list this model; it serves {ids[:20]}"
            )
        return ids

    # ----- one batch -----

    async def _generate_all(
        self, prompts: list[str], sampling: SamplingParams, on_result: OnResult | None
    ) -> list[Completion]:
        limiter = RateLimiter(self.max_concurrency, self._bucket, tokens=self._token_bucket)
        results: list[Completion | None] = [None] * len(prompts)
        tokens = self._request_tokens(prompts, sampling)

        async def one(i: int, client: openai.AsyncOpenAI) -> None:
            results[i] = await self._call_with_retries(client, limiter, prompts[i], sampling, tokens[i])
            if on_result is not None:
                on_result(i, results[i])

        async with self._client() as client:
            await run_batch([one(i, client) for i in range(len(prompts))], limiter)
        return results  # type: ignore[return-value]

    async def _call_with_retries(
        self,
        client: openai.AsyncOpenAI,
        limiter: RateLimiter,
        prompt: str,
        sampling: SamplingParams,
        tokens: int = 0,
    ) -> Completion:
        """`tokens`: what each attempt counts against `tokens_per_minute` (`request_tokens`)."""
        for attempt in range(self.max_retries + 1):
            try:
                async with limiter.slot(tokens):
                    return await self._call(client, prompt, sampling)
            except _Transient as exc:
                if attempt == self.max_retries:
                    raise EndpointError(
                        f"{self._where()}: gave up after {attempt + 1} attempts; last: {exc.reason}"
                    ) from None
                delay = self._delay(attempt, exc.retry_after)
                if exc.retry_after is not None:  # the server is limiting us: every request waits
                    limiter.pause(delay)
                logger.warning(
                    "%s: %s; retry %d in %.2fs", self._where(), exc.reason, attempt + 1, delay
                )
                await limiter.sleep(delay)
        raise AssertionError("unreachable")

    def request_tokens(self, prompt: str, sampling: SamplingParams) -> int:
        """What one request counts against `tokens_per_minute`, as OpenAI counts it: the prompt's
        tokens (the member's tokenizer, else about 4 characters a token; a chat message's framing
        adds a few) plus `max_new_tokens`, whatever the answer's length. An estimate: where it is a
        little low, the server's 429 and Retry-After still hold the batch back."""
        if self.tokenizer_path is None:
            prompt_tokens = -(-len(prompt) // 4)
        else:
            prompt_tokens = self._count(prompt)
        return prompt_tokens + (CHAT_FRAMING_TOKENS if self.style == "chat" else 0) + sampling.max_new_tokens

    def _request_tokens(self, prompts: list[str], sampling: SamplingParams) -> list[int]:
        """Every prompt's `request_tokens`, counted once per batch (0 without a token limit); a
        request that no minute's budget could ever admit is refused before anything is sent."""
        if self._token_bucket is None:
            return [0] * len(prompts)
        tokens = [self.request_tokens(p, sampling) for p in prompts]
        largest = max(tokens)
        if largest > self.tokens_per_minute:
            raise EndpointError(
                f"{self._where()}: a request of about {largest} tokens (prompt plus max_new_tokens "
                f"{sampling.max_new_tokens}) exceeds tokens_per_minute {self.tokens_per_minute:g}; "
                "the endpoint would refuse it every time. Lower max_new_tokens or raise the limit"
            )
        return tokens

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's own wait when it is positive and at most `max_backoff_s`; else the jittered
        exponential backoff: `Retry-After: 0` would spend every retry at once, and a daily quota's
        hour would stall the whole batch (it then gives up after `max_retries`, cached answers kept)."""
        if retry_after is not None and 0 < retry_after <= self.max_backoff_s:
            return retry_after
        # jitter spreads the retries of a batch that failed together
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)

    async def _call(
        self, client: openai.AsyncOpenAI, prompt: str, sampling: SamplingParams
    ) -> Completion:
        try:
            response = await self._request(client, prompt, sampling)
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APIConnectionError as exc:  # timeouts, refused and dropped connections
            raise _Transient(type(exc).__name__) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise _Transient(f"malformed response ({type(exc).__name__})") from None
        return self._to_completion(response, prompt, sampling)

    async def _request(
        self, client: openai.AsyncOpenAI, prompt: str, sampling: SamplingParams
    ) -> Any:
        params = request_params(sampling, self.style)
        if self.extra_body:
            params["extra_body"] = self.extra_body
        if self.style == "chat":
            messages = [{"role": "user", "content": prompt}]
            return await client.chat.completions.create(
                model=self.model, messages=messages, **params
            )
        return await client.completions.create(model=self.model, prompt=prompt, **params)

    def _status_error(self, exc: openai.APIStatusError) -> Exception:
        status = exc.status_code
        if status in (408, 409, 429) or status >= 500:
            return _Transient(f"HTTP {status}", retry_after_seconds(exc.response.headers))
        if status in (401, 403):
            # the body may echo part of the key, so it is left out
            source = f"the key in ${self.api_key_env}" if self.api_key_env else "the API key"
            return EndpointError(f"{self._where()}: HTTP {status}, the endpoint refused {source}")
        if status == 404:
            hint = "" if self.base_url.rstrip("/").endswith("/v1") else (
                f"; or {self.base_url} is not the API root (OpenAI-compatible servers serve under /v1)"
            )
            return EndpointError(f"{self._where()}: HTTP 404, the endpoint does not serve this model{hint}")
        body = self._redact(str(exc.body if exc.body is not None else exc.message))[:300]
        return EndpointError(f"{self._where()}: HTTP {status}: {body}")

    async def _list_models(self) -> list[str]:
        try:
            async with self._client(timeout_s=min(10.0, self.timeout_s)) as client:
                page = await client.models.list()
                return [m.id for m in page.data]
        except openai.APIStatusError as exc:
            if exc.status_code == 404:  # listing models names none: the route itself is missing
                raise EndpointError(
                    f"{self._where()}: HTTP 404 for {self.base_url}/models: no such route; base_url must be "
                    "the API root (OpenAI-compatible servers serve under /v1)"
                ) from None
            error = self._status_error(exc)
            if isinstance(error, _Transient):
                raise EndpointUnreachable(
                    f"{self._where()}: /models answered {error.reason}"
                ) from None
            raise error from None
        except openai.APIConnectionError as exc:
            raise EndpointUnreachable(
                f"{self._where()}: no answer from {self.base_url}/models ({type(exc).__name__}); is the server up?"
            ) from None

    # ----- responses -----

    def _to_completion(self, response: Any, prompt: str, sampling: SamplingParams) -> Completion:
        choice = _first_choice(response)
        text = self._choice_text(choice)
        for stop in sampling.stop:  # some servers return the stop string; the pool never does
            if stop in text:
                text = text[: text.index(stop)]
        logprobs = _choice_logprobs(choice, self.style) if sampling.logprobs else None
        top = _choice_top_logprobs(choice, self.style) if sampling.top_logprobs else None
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
            return Completion(text, prompt_tokens, completion_tokens, logprobs, top_logprobs=top)
        return Completion(
            text, self._count(prompt), self._count(text), logprobs, estimated_tokens=True, top_logprobs=top
        )

    def _choice_text(self, choice: Any) -> str:
        if self.style == "chat":
            message = getattr(choice, "message", None)
            if message is None:
                raise _Transient("malformed response (choice without message)")
            return message.content or ""
        text = getattr(choice, "text", None)
        if not isinstance(text, str):
            raise _Transient("malformed response (choice without text)")
        return text

    def _count(self, text: str) -> int:
        """Tokens of `text` by the member's tokenizer; about 4 characters a token without one."""
        if self.tokenizer_path is None:
            if not self._warned_estimate:
                logger.warning(
                    "%s: no usage in responses and no tokenizer_path; ~4 chars/token", self._where()
                )
                self._warned_estimate = True
            return max(1, round(len(text) / 4)) if text else 0
        if self._tokenizer is None:
            from .local import load_tokenizer  # noqa: PLC0415  (torch, only when usage is missing)

            self._tokenizer = load_tokenizer(self.tokenizer_path)
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])


def _first_choice(response: Any) -> Any:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise _Transient("malformed response (no choices)")
    return choices[0]


def _choice_top_logprobs(choice: Any, style: str) -> list[dict[str, float]] | None:
    """Per position, the server's top-k tokens and log-probabilities; None when it sent none."""
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return None
    if style == "chat":
        content = getattr(logprobs, "content", None) or []
        top = [{alt.token: float(alt.logprob) for alt in (getattr(item, "top_logprobs", None) or [])}
               for item in content]
    else:
        top = [{tok: float(v) for tok, v in (pos or {}).items()} for pos in (getattr(logprobs, "top_logprobs", None) or [])]
    return top if any(top) else None


def _choice_logprobs(choice: Any, style: str) -> list[float] | None:
    """Chosen-token log-probabilities, or None when the server ignored the request for them."""
    logprobs = getattr(choice, "logprobs", None)
    if logprobs is None:
        return None
    if style == "chat":
        content = getattr(logprobs, "content", None)
        return [float(item.logprob) for item in content] if content else None
    values = getattr(logprobs, "token_logprobs", None)
    return [float(v) for v in values if v is not None] if values else None
