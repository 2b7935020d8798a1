"""OpenAIBackend against a real `transformers serve` on 127.0.0.1 (through a counting, fault-injecting
proxy), plus the pure helpers: request parameters, Retry-After, the token bucket, re-pricing."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time

import pandas as pd
import pytest
from aiolimiter import AsyncLimiter

from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.pool.local import TransformersBackend
from r2_pipeline.pool.openai_backend import (
    EndpointError,
    EndpointUnreachable,
    OpenAIBackend,
    endpoint_fingerprint,
    request_params,
    retry_after_seconds,
)
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import Price, PriceTable
from r2_pipeline.pool.ratelimit import RateLimiter, requests_limiter, tokens_limiter
from r2_pipeline.pool.reprice import is_local_url, reprice, spend_summary, with_router_rows

pytestmark = pytest.mark.server

PROMPTS = ["abc", "hello world", "12+34=", "a=b", "x =", "q?", "the cat", "zz top"]
SAMPLING = SamplingParams(max_new_tokens=8)
SECRET = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def direct(tiny_model_dir):
    return TransformersBackend(tiny_model_dir)


@pytest.fixture
def make_backend(proxy, tiny_model_dir):
    def make(**kwargs) -> OpenAIBackend:
        kwargs = {"name": "tiny", "backoff_s": 0.02, "timeout_s": 10, **kwargs}
        return OpenAIBackend(proxy.url, str(tiny_model_dir), **kwargs)

    return make


def prices() -> PriceTable:
    return PriceTable({"tiny": Price(1.0, 2.0, "2026-01-01", "test")}, name="test")


def as_tuples(completions: list[Completion]) -> list[tuple]:
    return [(c.text, c.prompt_tokens, c.completion_tokens) for c in completions]


# ----- pure helpers -----


def test_extra_body_is_part_of_the_cache_identity():
    """vLLM's extra_body (top_k, repetition_penalty, chat template arguments) changes the answers,
    so two members that differ only there never share cached calls; without it the identity is as
    before, so existing caches stay valid."""
    plain = OpenAIBackend("http://h:1/v1", "m")
    assert plain.fingerprint == endpoint_fingerprint("http://h:1/v1", "m", "completion")
    tuned = OpenAIBackend("http://h:1/v1", "m", extra_body={"repetition_penalty": 1.1})
    assert tuned.fingerprint != plain.fingerprint
    assert tuned.fingerprint == OpenAIBackend("http://h:1/v1", "m", extra_body={"repetition_penalty": 1.1}).fingerprint


def test_weights_put_the_served_folder_in_the_cache_key(tmp_path):
    """`vllm serve <folder>` after a retrain keeps its URL and name: only the folder's hash tells the
    new model's answers from the old one's in the cache."""
    (tmp_path / "model.safetensors").write_bytes(b"old")
    old = OpenAIBackend("http://h:1/v1", "t3", weights=str(tmp_path)).fingerprint
    assert old != OpenAIBackend("http://h:1/v1", "t3").fingerprint
    (tmp_path / "model.safetensors").write_bytes(b"retrained")
    assert OpenAIBackend("http://h:1/v1", "t3", weights=str(tmp_path)).fingerprint != old
    with pytest.raises(ValueError, match=r"weights '.*missing' is not a folder"):
        OpenAIBackend("http://h:1/v1", "t3", weights=str(tmp_path / "missing"))


def test_request_params_send_sampling_fields_only_when_sampling():
    assert request_params(SamplingParams(max_new_tokens=5), "completion") == {
        "max_tokens": 5,
        "temperature": 0.0,
    }
    sampled = request_params(
        SamplingParams(temperature=0.7, top_p=0.9, seed=3, stop=("\n",), logprobs=True), "chat"
    )
    assert sampled == {
        "max_tokens": 16,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 3,
        "stop": ["\n"],
        "logprobs": True,
    }
    assert request_params(SamplingParams(logprobs=True), "completion")["logprobs"] == 1
    assert request_params(SamplingParams(top_logprobs=5), "completion")["logprobs"] == 5
    assert request_params(SamplingParams(top_logprobs=5), "chat") | {} == {
        "max_tokens": 16, "temperature": 0.0, "logprobs": True, "top_logprobs": 5,
    }


def test_top_logprobs_are_read_from_both_response_styles():
    from types import SimpleNamespace as NS

    from r2_pipeline.pool.openai_wire import _choice_top_logprobs

    alt = [NS(token="t", logprob=0.0)], [NS(token="3", logprob=-0.5), NS(token="5", logprob=-1.0)]
    chat = NS(logprobs=NS(content=[NS(token="t", logprob=0.0, top_logprobs=alt[0]),
                                   NS(token="3", logprob=-0.5, top_logprobs=alt[1])]))
    completion = NS(logprobs=NS(top_logprobs=[{"t": 0.0}, {"3": -0.5, "5": -1.0}]))
    expected = [{"t": 0.0}, {"3": -0.5, "5": -1.0}]
    assert _choice_top_logprobs(chat, "chat") == expected
    assert _choice_top_logprobs(completion, "completion") == expected
    assert _choice_top_logprobs(NS(logprobs=None), "chat") is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date in the past: go now
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_seconds(headers) == expected


def test_request_limiter_bursts_within_the_in_flight_cap():
    """A per-minute request limit lets at most `max_concurrency` (or the minute's count) start at once,
    then one start every 60/rpm seconds."""
    assert requests_limiter(None, 8) is None
    limiter = requests_limiter(120, 8)
    assert (limiter.max_rate, limiter.time_period / limiter.max_rate) == (8, 0.5)
    slow = requests_limiter(0.5, 8)  # one request every two minutes
    assert (slow.max_rate, slow.time_period) == (1, 120.0)


def test_token_limiter_holds_a_minute_and_refuses_more():
    # as OpenAI's cookbook parallel processor: a full minute's tokens, refilled continuously
    assert tokens_limiter(None) is None
    limiter = tokens_limiter(30_000)
    assert (limiter.max_rate, limiter.time_period) == (30_000, 60.0)
    with pytest.raises(ValueError, match="maximum capacity"):
        asyncio.run(limiter.acquire(30_001))


def rate_limited_starts(limiter: AsyncLimiter, tokens: list[int]) -> list[float]:
    async def starts() -> list[float]:
        slots = RateLimiter(8, tokens=limiter)
        begun = time.monotonic()
        times = []
        for amount in tokens:
            async with slots.slot(amount):
                times.append(time.monotonic() - begun)
        return times

    return asyncio.run(starts())


def test_rate_limiter_paces_request_starts_by_their_tokens():
    first, second, third = rate_limited_starts(AsyncLimiter(10, time_period=0.1), [10, 10, 5])
    # the second waits for 10 tokens at 100 a second, the third for 5 more: lower bounds only, since
    # a busy machine may start any of them late
    assert second - first >= 0.09 and third >= 0.14


def test_a_closed_batch_stops_waiting_for_its_budget():
    """A request waiting for tokens when the batch fails is not sent, and takes none of them."""
    from r2_pipeline.pool.ratelimit import BatchStopped

    async def close_while_waiting() -> bool:
        tokens = AsyncLimiter(10, time_period=60)
        slots = RateLimiter(2, tokens=tokens)
        async with slots.slot(10):
            pass
        asyncio.get_running_loop().call_later(0.05, slots.close)
        with pytest.raises(BatchStopped):
            async with slots.slot(5):  # would wait 30 s for 5 tokens
                pass
        return tokens.has_capacity(0)  # still the first request's 10 tokens at most, not 15

    begun = time.monotonic()
    assert asyncio.run(asyncio.wait_for(close_while_waiting(), 5))
    assert time.monotonic() - begun < 1.0


def test_request_tokens_count_the_prompt_and_max_new_tokens(make_backend, tiny_model_dir):
    assert make_backend().request_tokens("x" * 40, SAMPLING) == 10 + 8  # about 4 characters a token
    assert make_backend(style="chat").request_tokens("x" * 40, SAMPLING) == 10 + 6 + 8
    counted = make_backend(tokenizer_path=tiny_model_dir)
    assert counted.request_tokens("12+34=", SAMPLING) == counted._count("12+34=") + 8


def test_a_request_above_tokens_per_minute_is_refused_before_anything_is_sent(make_backend, proxy):
    backend = make_backend(tokens_per_minute=20)
    with pytest.raises(EndpointError, match=r"pool member 'tiny'.*about 21 tokens.*exceeds tokens_per_minute 20"):
        backend.generate(["abc", "x" * 52], SAMPLING)
    assert proxy.posts() == []


def test_tokens_per_minute_lets_a_batch_within_the_budget_through(make_backend, proxy):
    answers = make_backend(tokens_per_minute=100_000).generate(PROMPTS, SAMPLING)
    assert len(answers) == len(PROMPTS) and len(proxy.posts()) == len(PROMPTS)


def test_key_stays_out_of_repr_and_errors(monkeypatch, dead_url):
    monkeypatch.setenv("R2_TEST_KEY", SECRET)
    backend = OpenAIBackend(dead_url, "m", api_key_env="R2_TEST_KEY", name="api")
    assert SECRET not in repr(backend) and "R2_TEST_KEY" in repr(backend)
    with pytest.raises(EndpointUnreachable, match=r"pool member 'api'.*127\.0\.0\.1") as err:
        backend.check()
    assert SECRET not in str(err.value)
    monkeypatch.delenv("R2_TEST_KEY")
    with pytest.raises(EndpointError, match="R2_TEST_KEY is not set"):
        backend.generate(["x"], SAMPLING)


def test_reprice_recomputes_costs_and_splits_api_from_local():
    results = pd.DataFrame(
        {
            "member": ["gpt", "tiny", "tiny", None, "router"],
            "prompt_tokens": [1_000_000, 2_000_000, 0, 0, 500_000],
            "completion_tokens": [1_000_000, 0, 1_000_000, 0, 0],
            "cost_usd": [0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    table = PriceTable(
        {
            "gpt": Price(2.5, 10.0, "2026-02-01", "provider page"),
            "tiny": Price(0.1, 0.2, "2026-02-01", "gpu-hour estimate"),
            "router": Price(0.1, 0.2, "2026-02-01", "gpu-hour estimate"),
        },
        name="feb",
    )
    priced = reprice(results, table)
    assert priced["cost_usd"].tolist() == pytest.approx([12.5, 0.2, 0.2, 0.0, 0.05])
    assert set(priced["price_date"].dropna()) == {"2026-02-01"} and set(priced["price_table"]) == {
        "feb"
    }
    assert results["cost_usd"].sum() == 0.0  # the input is left alone
    manifest = {
        "gpt": {"backend": "openai", "base_url": "https://api.openai.com/v1", "model": "gpt-x"},
        "tiny": {"backend": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "tiny"},
        "router": {"backend": "transformers", "path": "data/06_models/router"},
    }
    summary = spend_summary(results, table, manifest, router_members={"router"})
    rows = {(r.source, r.spend): (r.calls, r.cost_usd) for r in summary.itertuples()}
    assert rows == {
        ("pool", "api"): (1, 12.5),
        ("pool", "local"): (2, pytest.approx(0.4)),
        ("router", "local"): (1, 0.05),
    }
    assert is_local_url("http://10.0.0.7:8000/v1") and not is_local_url(
        "https://api.together.xyz/v1"
    )
    assert is_local_url("http://gpu-node-3:8000/v1") and is_local_url("http://100.101.7.3:8000/v1")
    assert not is_local_url("http://8.8.8.8/v1") and not is_local_url("https://example.com/v1")
    assert is_local_url("http://gpu1.cluster.local:8000/v1") and is_local_url("http://vllm.svc.internal/v1")
    assert not is_local_url("https://api.local-llm.com/v1")
    with pytest.raises(KeyError, match="gpt"):
        spend_summary(results, table, {k: v for k, v in manifest.items() if k != "gpt"})


def test_router_rows_put_the_router_back_into_a_repriced_run():
    """evaluation_steps holds pool calls only; with_router_rows adds each question's router tokens
    (from evaluation_results), so a repriced routed method costs what the run charged."""
    steps = pd.DataFrame({"method": ["r2", "r2", "single:tiny"], "id": ["q1", "q1", "q1"],
                          "member": ["tiny", "gpt", "tiny"], "prompt_tokens": [10, 10, 10],
                          "completion_tokens": [2, 2, 2], "cost_usd": [0.0, 0.0, 0.0]})
    results = pd.DataFrame({"method": ["r2", "single:tiny"], "id": ["q1", "q1"],
                            "router_prompt_tokens": [100, 0], "router_completion_tokens": [20, 0],
                            "router_cost_usd": [0.0, 0.0]})
    table = PriceTable({"tiny": Price(1.0, 1.0, "2026-02-01", "x"), "gpt": Price(10.0, 10.0, "2026-02-01", "x"),
                        "router": Price(2.0, 2.0, "2026-02-01", "x")})
    both = with_router_rows(steps, results, "router")
    assert list(both["role"]) == ["pool", "pool", "pool", "router"]  # single:tiny spent no router tokens
    cost = reprice(both, table).groupby("method")["cost_usd"].sum()
    assert cost["r2"] == pytest.approx((12 + 120 + 120 * 2) / 1e6) and cost["single:tiny"] == pytest.approx(12 / 1e6)
    # the pool manifest (written by model_pool) lists pool members only: the router is our own weights
    manifest = {"tiny": {"backend": "transformers"}, "gpt": {"backend": "openai", "base_url": "https://api.x/v1"}}
    summary = spend_summary(both, table, manifest)
    assert set(zip(summary["source"], summary["spend"])) == {("pool", "local"), ("pool", "api"), ("router", "local")}
    assert summary["calls"].sum() == len(both)


# ----- against the real server -----


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_generation_matches_direct_transformers(make_backend, direct, style):
    through_http = make_backend(style=style).generate(PROMPTS, SAMPLING)
    assert as_tuples(through_http) == as_tuples(direct.generate(PROMPTS, SAMPLING))
    assert len({c.text for c in through_http}) > 3  # answers depend on the prompt: order is checked
    assert not any(c.estimated_tokens for c in through_http)


def test_in_flight_requests_stay_within_the_limit(make_backend, proxy):
    make_backend(max_concurrency=3).generate([f"{p} {i}" for i, p in enumerate(PROMPTS)], SAMPLING)
    assert proxy.max_in_flight == 3
    assert len(proxy.posts()) == len(PROMPTS)  # one request per prompt


def test_requests_per_minute_spaces_request_starts(make_backend, proxy):
    make_backend(max_concurrency=1, requests_per_minute=600).generate(PROMPTS[:4], SAMPLING)
    gaps = [b - a for a, b in zip(proxy.starts, proxy.starts[1:])]
    # 600/min is one start per 0.1 s; the proxy sees arrivals, which a loaded machine may bunch a little
    assert sum(gaps) >= 0.27 and min(gaps) >= 0.05


def test_cache_makes_the_second_run_send_nothing(make_backend, proxy, live_server, tmp_path):
    first = ModelPool({"tiny": make_backend()}, prices(), CallCache(tmp_path / "calls.sqlite"))
    before = live_server.requests_logged()
    answers = first.generate("tiny", PROMPTS, SAMPLING)
    assert len(proxy.posts()) == len(PROMPTS) == live_server.requests_logged() - before

    second = ModelPool({"tiny": make_backend()}, prices(), CallCache(tmp_path / "calls.sqlite"))
    again = second.generate("tiny", PROMPTS, SAMPLING)
    assert len(proxy.posts()) == len(PROMPTS) and live_server.requests_logged() - before == len(
        PROMPTS
    )
    assert as_tuples(again) == as_tuples(answers) and all(c.cached for c in again)
    assert second.ledger.calls["tiny"] == len(PROMPTS)


@pytest.mark.slow
def test_a_killed_server_stops_the_batch_at_once_and_a_rerun_sends_only_the_rest(
    make_backend, proxy, live_server, direct, tmp_path, caplog
):
    """SIGKILL mid-run: the breaker ends the batch within seconds with one error, after sending the
    dead server hardly anything more; once it is back, a rerun sends exactly the unanswered prompts."""
    caplog.set_level(logging.DEBUG, logger="r2_pipeline")
    prompts = [f"{p} {i}" for i in range(6) for p in PROMPTS]
    at_kill: dict[str, float] = {}

    def kill_after_some_answers():
        while len(proxy.answered) < 8:
            time.sleep(0.005)
        # counted before the kill, so requests sent meanwhile count as sent after it
        at_kill.update(posts=len(proxy.posts()), in_flight=proxy.in_flight, time=time.monotonic())
        live_server.kill()

    killer = threading.Thread(target=kill_after_some_answers)
    backend = make_backend(max_concurrency=4)
    pool = ModelPool({"tiny": backend}, prices(), CallCache(tmp_path / "c.sqlite"))
    try:
        killer.start()
        with pytest.raises(EndpointUnreachable) as err:
            pool.generate("tiny", prompts, SAMPLING)
        stopped_in = time.monotonic() - at_kill["time"]
        killer.join()
        sent_after = len(proxy.posts()) - at_kill["posts"]
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        measured = (f"stopped {stopped_in:.2f}s after the kill, {sent_after} requests sent after it "
                    f"({at_kill['in_flight']:.0f} in flight then), {len(warnings)} warnings")
        assert stopped_in < 5.0, measured
        assert sent_after <= at_kill["in_flight"] + backend.breaker_failures, measured
        assert len(warnings) < 10, measured
        answered = set(proxy.answered)
        assert 8 <= len(answered) < len(prompts)
        message = str(err.value)
        assert "'tiny'" in message and proxy.url in message and "APIConnectionError" in message
        assert f"{len(prompts) - len(answered)} of {len(prompts)} prompts are unanswered" in message
    finally:
        live_server.ensure_up()
    proxy.reset()
    resumed = ModelPool({"tiny": make_backend()}, prices(), CallCache(tmp_path / "c.sqlite"))
    out = resumed.generate("tiny", prompts, SAMPLING)
    assert sorted(proxy.prompts_sent()) == sorted(set(prompts) - answered)
    assert as_tuples(out) == as_tuples(direct.generate(prompts, SAMPLING))


@pytest.mark.server
def test_a_429_storm_with_retry_after_is_waited_out(make_backend, proxy, direct, caplog):
    """Throttling is a busy server, not a dead one: a run of 429s with Retry-After never opens the
    breaker (here set to open at the second connection failure), the answers are the same, and the
    retries are counted in a line or two, not one line each."""
    caplog.set_level(logging.DEBUG, logger="r2_pipeline")
    proxy.faults.extend([{"status": 429, "headers": {"retry-after-ms": "50"}}] * 12)
    out = make_backend(max_concurrency=4, breaker_failures=2).generate(PROMPTS, SAMPLING)
    assert as_tuples(out) == as_tuples(direct.generate(PROMPTS, SAMPLING))
    assert len(proxy.posts()) == len(PROMPTS) + 12
    summaries = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and "retr" in r.getMessage()]
    assert 1 <= len(summaries) <= 2
    assert sum(int(re.search(r"HTTP 429 x(\d+)", m).group(1)) for m in summaries) == 12
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) <= 2


def test_request_budget_spans_batches(make_backend, proxy):
    """The per-minute limiter outlives a batch: two one-prompt batches in a row are paced as one
    (a fresh budget would send the second at once)."""
    backend = make_backend(max_concurrency=1, requests_per_minute=120)
    backend.generate(PROMPTS[:1], SAMPLING)
    backend.generate(PROMPTS[1:2], SAMPLING)
    first, second = proxy.starts
    assert second - first >= 0.45  # 120/min is one start per 0.5 s


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "headers": {"Retry-After": "1"}},
        {"status": 503},
        {"status": 500},
        {"text": "{not json"},
        {"text": '{"unexpected": true}'},
        {"text": "<html>bad gateway</html>", "content_type": "text/html"},
        {"drop": True},
        {"delay": 1.5},
    ],
    ids=[
        "429-retry-after",
        "503",
        "500",
        "broken-json",
        "wrong-shape",
        "html",
        "dropped",
        "timeout",
    ],
)
def test_transient_faults_are_retried(make_backend, proxy, direct, fault):
    proxy.faults.append(fault)
    start = time.monotonic()
    out = make_backend(timeout_s=0.75).generate(["a=b"], SAMPLING)
    assert as_tuples(out) == as_tuples(direct.generate(["a=b"], SAMPLING))
    assert len(proxy.posts()) == 2
    if "headers" in fault:
        assert time.monotonic() - start >= 1.0  # waited as told, not the 0.02 s backoff


def test_a_servers_wait_is_kept_within_reason():
    """Retry-After 0 would spend every retry at once; an hour (a daily quota) would stall the batch."""
    from tenacity import RetryCallState

    from r2_pipeline.pool.retry import Transient, backoff

    wait = backoff(backoff_s=1.0, max_backoff_s=60.0)

    def delay(retry: int, retry_after: float | None) -> float:
        state = RetryCallState(None, None, (), {})
        state.attempt_number = retry + 1
        state.set_exception((Transient, Transient("HTTP 429", retry_after), None))
        return wait(state)

    assert delay(0, 3.0) == 3.0
    assert 0.5 <= delay(0, 0.0) <= 1.0 and 2.0 <= delay(2, 0.0) <= 4.0
    assert 30.0 <= delay(9, 3600.0) <= 60.0
    assert 0.5 <= delay(0, None) <= 1.0


def test_retries_give_up_with_a_clear_error(make_backend, proxy):
    proxy.faults.extend([{"status": 503}] * 3)
    with pytest.raises(
        EndpointError, match=r"pool member 'tiny'.*gave up after 3 attempts.*HTTP 503"
    ):
        make_backend(max_retries=2).generate(["abc"], SAMPLING)
    assert len(proxy.posts()) == 3


def test_refused_key_stops_at_once_and_never_leaks(make_backend, proxy, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    proxy.require_key = "the-right-key"
    monkeypatch.setenv("R2_TEST_KEY", SECRET)
    backend = make_backend(api_key_env="R2_TEST_KEY", max_concurrency=2)
    with pytest.raises(EndpointError, match="HTTP 401") as err:
        backend.generate(PROMPTS, SAMPLING)
    message = str(err.value)
    assert "'tiny'" in message and proxy.url in message and "R2_TEST_KEY" in message
    assert len(proxy.posts()) <= 2  # no retries, nothing sent after the refusal
    for text in (message, caplog.text, repr(backend)):
        assert SECRET not in text and SECRET[:6] not in text


def test_a_base_url_without_its_api_path_is_named_as_such():
    """A server answers 404 on every route of a base_url that lacks `/v1`: the error says so, not
    that the model is missing."""
    import http.server

    class NotFound(http.server.BaseHTTPRequestHandler):
        def _404(self):
            body = b'{"detail": "Not Found"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _404

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{server.server_port}", "m", max_retries=0)
        with pytest.raises(EndpointError, match=r"HTTP 404 for http://127\.0\.0\.1:\d+/models: no such route.*/v1"):
            backend.check()
        with pytest.raises(EndpointError, match=r"does not serve this model; or .* is not the API root"):
            backend.generate(["abc"], SAMPLING)
    finally:
        server.shutdown()


def test_unknown_model_stops_at_once(proxy, tiny_model_dir):
    backend = OpenAIBackend(proxy.url, "no-such-model", name="typo", backoff_s=0.02)
    with pytest.raises(EndpointError, match=r"'typo'.*no-such-model.*HTTP 400"):
        backend.generate(
            ["abc"], SAMPLING
        )  # transformers serve answers 400 for a model it does not pin
    proxy.faults.append({"status": 404, "body": {"error": {"message": "model not found"}}})
    with pytest.raises(EndpointError, match="does not serve this model"):
        backend.generate(["abc"], SAMPLING)
    assert len(proxy.posts()) == 2
    with pytest.raises(EndpointError, match="does not list this model"):
        backend.check()
    assert str(tiny_model_dir) in OpenAIBackend(proxy.url, str(tiny_model_dir)).check()


def test_missing_usage_is_counted_with_the_tokenizer(make_backend, proxy, direct, tiny_model_dir):
    proxy.strip_usage = True
    out = make_backend(tokenizer_path=tiny_model_dir).generate(["abc", "hello world"], SAMPLING)
    assert all(c.estimated_tokens for c in out)
    # the answers stop at max_new_tokens without <eos>, so text tokens are all the tokens
    assert as_tuples(out) == as_tuples(direct.generate(["abc", "hello world"], SAMPLING))


@pytest.mark.parametrize("style", ["completion", "chat"])
def test_logprobs_are_read_when_the_server_sends_them(make_backend, proxy, style):
    if style == "chat":
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "hi"},
            "logprobs": {
                "content": [
                    {"token": "h", "logprob": -0.5, "bytes": None, "top_logprobs": []},
                    {"token": "i", "logprob": -0.25, "bytes": None, "top_logprobs": []},
                ]
            },
        }
        kind = "chat.completion"
    else:
        choice = {
            "index": 0,
            "finish_reason": "stop",
            "text": "hi",
            "logprobs": {
                "tokens": ["h", "i"],
                "token_logprobs": [-0.5, -0.25],
                "top_logprobs": None,
                "text_offset": [0, 1],
            },
        }
        kind = "text_completion"
    body = {"id": "x", "object": kind, "created": 0, "model": "m", "choices": [choice]}
    proxy.faults.append({"text": json.dumps(body)})
    [out] = make_backend(style=style).generate(["q?"], SamplingParams(logprobs=True))
    assert out.token_logprobs == [-0.5, -0.25] and out.text == "hi" and out.estimated_tokens


def test_generate_works_inside_a_running_event_loop(make_backend, direct):
    async def notebook_cell():
        return make_backend().generate(["abc"], SAMPLING)

    assert as_tuples(asyncio.run(notebook_cell())) == as_tuples(direct.generate(["abc"], SAMPLING))


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("401: bad key sk-live-1234567890", ("sk-live-1234567890",), "401: bad key ***"),
        ("Bearer sk-live-1234567890abc rejected", ("sk-live-1234567890",), "Bearer ***abc rejected"),
        # a short key is replaced only as a whole token: "x" must not garble every word with an x
        ("max_tokens exceeded for key x", ("x",), "max_tokens exceeded for key ***"),
        ("model EMPTY-ish not found", ("EMPTY",), "model EMPTY-ish not found"),
        ("nothing secret here", (None, ""), "nothing secret here"),
        ("key 12345678901 refused", (12345678901,), "key *** refused"),  # a number from YAML
    ],
)
def test_redact_hides_keys_without_garbling(text, secrets, expected):
    from r2_pipeline.pool.openai_backend import redact

    assert redact(text, *secrets) == expected

