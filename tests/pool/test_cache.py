"""The call cache: a second identical call is a hit and makes no generation."""

import pytest

from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable

PRICES = PriceTable.from_config(
    {"m": {"input_per_m": 1, "output_per_m": 1, "date": "d", "source": "s"}}
)


class CountingBackend:
    """A fake backend for the orchestration test: echoes prompts and counts what it generated."""

    fingerprint = "fake-v1"

    def __init__(self):
        self.generated: list[str] = []

    def generate(self, prompts, sampling):
        self.generated += prompts
        return [Completion(p[::-1], len(p), 2) for p in prompts]


def test_second_call_is_a_hit(tmp_path):
    backend = CountingBackend()
    pool = ModelPool({"m": backend}, PRICES, CallCache(tmp_path / "c.sqlite"))
    first = pool.generate("m", ["ab", "cd", "ab"])
    assert backend.generated == ["ab", "cd"]  # duplicates in a batch are generated once
    again = ModelPool({"m": backend}, PRICES, CallCache(tmp_path / "c.sqlite")).generate(
        "m", ["cd", "ab"]
    )
    assert backend.generated == ["ab", "cd"]
    assert [c.text for c in again] == ["dc", "ba"] and all(c.cached for c in again)
    assert [c.text for c in first] == ["ba", "dc", "ba"]


def test_a_batching_backend_is_cached_batch_by_batch_so_a_crash_keeps_the_finished_batches(tmp_path):
    class Batching(CountingBackend):
        batch_size = 2
        fail_at = 3  # the third batch never finishes

        def generate(self, prompts, sampling):
            assert len(prompts) <= self.batch_size
            self.fail_at -= 1
            if self.fail_at == 0:
                raise RuntimeError("killed mid-run")
            return super().generate(prompts, sampling)

    backend = Batching()
    pool = ModelPool({"m": backend}, PRICES, CallCache(tmp_path / "c.sqlite"))
    with pytest.raises(RuntimeError, match="killed"):
        pool.generate("m", ["a", "b", "c", "d", "e"])
    finished = list(backend.generated)
    assert len(finished) == 4
    backend.generated.clear()
    assert [c.text for c in pool.generate("m", ["a", "b", "c", "d", "e"])] == ["a", "b", "c", "d", "e"]
    assert backend.generated == sorted(set("abcde") - set(finished))  # only the lost batch runs again


def test_hits_and_misses_are_counted(tmp_path):
    pool = ModelPool({"m": CountingBackend()}, PRICES, CallCache(tmp_path / "c.sqlite"))
    pool.generate("m", ["a", "b"])
    pool.generate("m", ["a", "c"])
    assert pool.cache.stats() == {"cache_hits": 1, "cache_misses": 3}


def test_sampling_settings_are_part_of_the_key(tmp_path):
    backend = CountingBackend()
    pool = ModelPool({"m": backend}, PRICES, CallCache(tmp_path / "c.sqlite"))
    pool.generate("m", ["a"], SamplingParams(temperature=0.0))
    pool.generate("m", ["a"], SamplingParams(temperature=1.0, seed=1))
    assert backend.generated == ["a", "a"]


def test_ledger_counts_cached_calls_as_method_cost(tmp_path):
    pool = ModelPool({"m": CountingBackend()}, PRICES, CallCache(tmp_path / "c.sqlite"))
    pool.generate("m", ["abc"])
    pool.generate("m", ["abc"])
    assert pool.ledger.calls["m"] == 2 and pool.ledger.prompt_tokens["m"] == 6


def test_unknown_member_and_unpriced_member():
    with pytest.raises(KeyError, match="unknown pool member 'x'"):
        ModelPool({"m": CountingBackend()}, PRICES).generate("x", ["a"])
    with pytest.raises(ValueError, match="without a price"):
        ModelPool({"n": CountingBackend()}, PRICES)


def test_sampling_stop_from_yaml_is_a_tuple():
    from r2_pipeline.pool.base import SamplingParams

    sampling = SamplingParams(stop=["\n"])
    assert sampling.stop == ("\n",) and hash(sampling) and sampling.key() == SamplingParams(stop=("\n",)).key()


def test_sampling_keys_without_stop_strings_are_unchanged_and_an_empty_stop_is_refused():
    """Existing caches stay valid; completions with stop strings are keyed anew, since they were
    counted past the stop before the local backend ended the count there."""
    import json
    from dataclasses import asdict

    from r2_pipeline.pool.base import SamplingParams

    assert SamplingParams(max_new_tokens=4).key() == json.dumps(asdict(SamplingParams(max_new_tokens=4)), sort_keys=True)
    assert json.loads(SamplingParams(stop=["\n"]).key())["stop_ends_count"] is True
    with pytest.raises(ValueError, match="empty stop string"):
        SamplingParams(stop=["\n", ""])


def test_a_yaml_integer_temperature_is_the_same_call_as_its_float():
    assert SamplingParams(temperature=0, top_p=1).key() == SamplingParams(temperature=0.0, top_p=1.0).key()


def test_an_answer_without_the_log_probabilities_asked_for_is_not_cached(tmp_path, caplog):
    """A server that ignores the request for log-probabilities: its answers are returned but not
    stored, so once it is fixed the same call asks again instead of replaying the blind answers."""
    class Blind(CountingBackend):
        sends = False

        def generate(self, prompts, sampling):
            self.generated += prompts
            return [Completion(p[::-1], len(p), 2, [-0.1, -0.2] if self.sends else None,
                               [{"a": -0.1}] * 2 if self.sends else None) for p in prompts]

    backend, cache = Blind(), CallCache(tmp_path / "c.sqlite")
    pool = ModelPool({"m": backend}, PRICES, cache)
    for asked in (SamplingParams(logprobs=True), SamplingParams(top_logprobs=5)):
        assert pool.generate("m", ["ab"], asked)[0].token_logprobs is None
        assert "1 answers of m came without the log-probabilities asked for" in caplog.text
    pool.generate("m", ["ab"])  # nothing asked: cached as ever
    assert pool.generate("m", ["ab"])[0].cached
    backend.sends, backend.generated = True, []
    fixed = pool.generate("m", ["ab"], SamplingParams(logprobs=True))
    assert backend.generated == ["ab"] and fixed[0].token_logprobs == [-0.1, -0.2]
    assert pool.generate("m", ["ab"], SamplingParams(logprobs=True))[0].cached and backend.generated == ["ab"]


def test_a_greedy_member_answers_every_seed_from_one_cached_call(tmp_path):
    from r2_pipeline.pool.base import Completion, SamplingParams
    from r2_pipeline.pool.cache import CallCache
    from r2_pipeline.pool.pool import ModelPool
    from r2_pipeline.pool.prices import PriceTable

    class Counting:
        fingerprint, temperature, calls = "counting", None, 0

        def generate(self, prompts, sampling):
            Counting.calls += len(prompts)
            return [Completion(f"{sampling.seed}", 1, 1) for _ in prompts]

    prices = PriceTable.from_config({"m": {"input_per_m": 1, "output_per_m": 1, "date": "d", "source": "s"}})
    pool = ModelPool({"m": Counting()}, prices, CallCache(tmp_path / "c.sqlite"))
    texts = {pool.generate("m", ["1+1="], SamplingParams(seed=s))[0].text for s in (0, 1, 2)}
    assert texts == {"0"} and Counting.calls == 1
    Counting.temperature = 1.0  # a member that samples keeps each seed
    assert pool.generate("m", ["1+2="], SamplingParams(seed=5))[0].text == "5"
