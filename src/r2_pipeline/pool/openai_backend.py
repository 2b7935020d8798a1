"""Any OpenAI-compatible endpoint (a vLLM server, an API provider, a local server) as a pool member.

One request per prompt, sent concurrently under the member's limits, retried on transient failures;
every answer is handed to `on_result` as it arrives so the pool can cache it before the batch ends. A
dead endpoint opens the batch's circuit breaker: one error, nothing more sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from .base import Completion, SamplingParams
from .breaker import Breaker
from .loop import run_sync
from .openai_wire import endpoint_fingerprint, redact, request_params, to_completion
from .ratelimit import BatchStopped, RateLimiter, requests_limiter, tokens_limiter
from .retry import RetryLog, Transient, backoff, retry_after_seconds

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


async def run_batch(coros: list[Awaitable[None]], limiter: RateLimiter) -> list[BaseException]:
    """Run all; the first error closes the batch (no new requests, those in flight finish). Returns
    the errors, less the requests stopped by the closing."""

    async def guarded(coro: Awaitable[None]) -> None:
        try:
            await coro
        except BaseException:
            limiter.close()
            raise

    outcomes = await asyncio.gather(*(guarded(c) for c in coros), return_exceptions=True)
    return [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, BatchStopped)]


class OpenAIBackend:
    """A model behind an OpenAI-compatible HTTP API; the key is read from `api_key_env` when needed.

    Thread-safe: every batch runs on the one endpoint loop (`loop.run_sync`), so batches sent from
    several threads at once share the member's limits (requests in flight, per minute, tokens)."""

    concurrent = True  # a batch waits on the server: other members answer theirs meanwhile

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
        breaker_failures: int = 8,
        breaker_window_s: float = 10.0,
    ):
        """Retries: a request that fails transiently (a dropped or refused connection, a timeout,
        HTTP 408/409/429/5xx, a malformed response) is tried again up to `max_retries` times, after
        the server's Retry-After when it is positive and at most `max_backoff_s`, else after half to
        all of min(`max_backoff_s`, `backoff_s` * 2**retry) seconds. A Retry-After holds back the
        whole batch; a request waiting to retry gives its slot to another.

        Circuit breaker: `breaker_failures` connection failures in a row (refused, reset, DNS,
        timeouts), all within `breaker_window_s` seconds, mean the endpoint is gone: the batch stops
        sending, retries waiting stop, and one EndpointUnreachable names the member, its URL, the
        failure and how many prompts are unanswered. Any answer from the server, a 429 or a 503
        included, starts the count again: a busy server is not a dead one. The defaults stop at once
        on a killed local server (it refuses every connection in milliseconds) while a request that
        times out now and then, between answers, never opens it.
        """
        if style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {style!r}")
        if isinstance(breaker_failures, bool) or not isinstance(breaker_failures, int) or breaker_failures < 1:
            raise ValueError(f"breaker_failures must be a positive integer, got {breaker_failures!r}")
        if not breaker_window_s > 0:
            raise ValueError(f"breaker_window_s must be a positive number of seconds, got {breaker_window_s!r}")
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
        self.breaker_failures = breaker_failures
        self.breaker_window_s = breaker_window_s
        self.extra_body = dict(extra_body) if extra_body else None
        self.tokenizer_path = tokenizer_path
        self.fingerprint = fingerprint or endpoint_fingerprint(self.base_url, model, style, self.extra_body, weights)
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._requests = requests_limiter(requests_per_minute, max_concurrency)
        self.tokens_per_minute = tokens_per_minute
        self._tokens = tokens_limiter(tokens_per_minute)
        self._retry_log = RetryLog(self._where())
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
        tokens = self._request_tokens(prompts, sampling)
        limiter = RateLimiter(self.max_concurrency, self._requests, tokens=self._tokens, slots=self._in_flight())
        breaker = Breaker(self.breaker_failures, self.breaker_window_s, on_open=limiter.close)
        results: list[Completion | None] = [None] * len(prompts)

        async def one(i: int, client: openai.AsyncOpenAI) -> None:
            results[i] = await self._call_with_retries(
                client, limiter, breaker, prompts[i], sampling, tokens[i]
            )
            if on_result is not None:
                on_result(i, results[i])

        try:
            async with self._client() as client:
                errors = await run_batch([one(i, client) for i in range(len(prompts))], limiter)
        finally:
            self._retry_log.flush()
        if breaker.is_open:
            raise EndpointUnreachable(
                f"{self._where()}: the endpoint stopped answering: {breaker.describe()}. Nothing more "
                f"was sent; {results.count(None)} of {len(prompts)} prompts are unanswered (answers "
                "received were passed on as they came: with the call cache, a rerun sends only the "
                "unanswered ones). Is the server up?"
            )
        if errors:
            raise errors[0]
        return results  # type: ignore[return-value]

    def _in_flight(self) -> asyncio.Semaphore:
        """The member's cap on requests in flight, one for all its batches, whichever thread sent
        them. Made on the loop that runs them (only that loop's thread gets here), anew in a forked
        child, whose loop is its own."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.max_concurrency))
        return self._slots[1]

    async def _call_with_retries(
        self,
        client: openai.AsyncOpenAI,
        limiter: RateLimiter,
        breaker: Breaker,
        prompt: str,
        sampling: SamplingParams,
        tokens: int = 0,
    ) -> Completion:
        """`tokens`: what each attempt counts against `tokens_per_minute` (`request_tokens`)."""

        async def attempt() -> Completion:
            async with limiter.slot(tokens):
                try:
                    completion = await self._call(client, prompt, sampling)
                except Transient as exc:
                    if exc.connection:
                        breaker.failed(exc.reason)
                    else:
                        breaker.answered()
                    raise
                breaker.answered()
                return completion

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception()
            if exc.retry_after is not None:  # the server is limiting us: every request waits
                limiter.pause(state.upcoming_sleep)
            self._retry_log.note(exc.reason, state.attempt_number, state.upcoming_sleep)

        def give_up(state: RetryCallState) -> None:
            if limiter.closed:  # the batch failed elsewhere or the breaker opened: its error tells
                raise BatchStopped
            raise EndpointError(
                f"{self._where()}: gave up after {state.attempt_number} attempts; "
                f"last: {state.outcome.exception().reason}"
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Transient),
            stop=stop_after_attempt(self.max_retries + 1) | (lambda _: limiter.closed),
            wait=backoff(self.backoff_s, self.max_backoff_s),
            sleep=limiter.sleep,
            before_sleep=before_sleep,
            retry_error_callback=give_up,
        )
        return await retrying(attempt)

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
        if self._tokens is None:
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

    async def _call(
        self, client: openai.AsyncOpenAI, prompt: str, sampling: SamplingParams
    ) -> Completion:
        try:
            response = await self._request(client, prompt, sampling)
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except openai.APIConnectionError as exc:  # timeouts, refused and dropped connections
            raise Transient(type(exc).__name__, connection=True) from None
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise Transient(f"malformed response ({type(exc).__name__})") from None
        return to_completion(response, prompt, sampling, self.style, self._count)

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
            return Transient(f"HTTP {status}", retry_after_seconds(exc.response.headers))
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
            if isinstance(error, Transient):
                raise EndpointUnreachable(
                    f"{self._where()}: /models answered {error.reason}"
                ) from None
            raise error from None
        except openai.APIConnectionError as exc:
            raise EndpointUnreachable(
                f"{self._where()}: no answer from {self.base_url}/models ({type(exc).__name__}); is the server up?"
            ) from None

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

