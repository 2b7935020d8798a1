"""The local transformers backend on a real tiny model: batched, left-padded, counted."""

from dataclasses import replace

import pytest

from r2_pipeline.pool.base import SamplingParams
from r2_pipeline.pool.cache import CallCache
from r2_pipeline.pool.local import TransformersBackend, folder_fingerprint, trained_router
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable

PROMPTS = ["003+004=", "007*002=", "9+1=", "008-003="]


def test_batched_equals_one_by_one(tiny_member):
    backend = TransformersBackend(tiny_member, batch_size=8)
    sampling = SamplingParams(max_new_tokens=4, logprobs=True)
    batched = backend.generate(PROMPTS, sampling)
    single = [backend.generate([p], sampling)[0] for p in PROMPTS]
    assert [c.text for c in batched] == [c.text for c in single]
    assert [c.prompt_tokens for c in batched] == [len(p) for p in PROMPTS]
    for c in batched:
        assert 1 <= c.completion_tokens <= 4
        assert len(c.token_logprobs) == c.completion_tokens and all(
            lp <= 0 for lp in c.token_logprobs
        )


def test_sampling_is_seeded(tiny_member):
    backend = TransformersBackend(tiny_member)
    hot = SamplingParams(max_new_tokens=4, temperature=1.5, seed=3)
    assert [c.text for c in backend.generate(PROMPTS, hot)] == [
        c.text for c in backend.generate(PROMPTS, hot)
    ]


def test_seeded_sampling_leaves_the_callers_random_stream_alone(tiny_member):
    """GRPO's policy samples in the process whose pool members answer its rewards: a member's seed
    must not reset the policy's stream to the same state at every reward call."""
    import torch

    backend = TransformersBackend(tiny_member)
    hot = SamplingParams(max_new_tokens=4, temperature=1.5, seed=3)
    draws = []
    for seed in (123, 456):
        torch.manual_seed(seed)
        backend.generate(PROMPTS, hot)
        draws.append(torch.rand(3))
    assert not torch.equal(draws[0], draws[1])
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), draws[0])  # as if no member had sampled


def test_a_sampled_answer_depends_on_seed_and_prompt_not_on_the_batch(tiny_member):
    backend = TransformersBackend(tiny_member)
    hot = SamplingParams(max_new_tokens=4, temperature=1.5, seed=3, logprobs=True)
    together = backend.generate(PROMPTS, hot)
    alone = [backend.generate([p], hot)[0] for p in PROMPTS]
    assert [c.text for c in together] == [c.text for c in alone]
    for a, b in zip(together, alone):
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-5)
    seeds = {tuple(c.text for c in backend.generate(PROMPTS * 4, SamplingParams(max_new_tokens=4, temperature=1.5,
                                                                                   seed=s))) for s in range(6)}
    assert len(seeds) > 1  # another seed, another draw


def test_a_member_temperature_overrides_the_callers_and_names_its_cache_entries(tiny_member):
    greedy = TransformersBackend(tiny_member)
    sampled = TransformersBackend(tiny_member, temperature=2.0)
    assert sampled.fingerprint != greedy.fingerprint
    asked_greedy = SamplingParams(max_new_tokens=4)
    draws = {tuple(c.text for c in sampled.generate(PROMPTS * 3, replace(asked_greedy, seed=s))) for s in range(5)}
    assert len(draws) > 1
    assert TransformersBackend(tiny_member, temperature=0.0).generate(PROMPTS, asked_greedy)[0].text == \
        greedy.generate(PROMPTS, asked_greedy)[0].text
    with pytest.raises(ValueError, match="temperature"):
        TransformersBackend(tiny_member, temperature=-1.0)


def test_real_model_through_cache(tiny_member, tmp_path, monkeypatch):
    backend = TransformersBackend(tiny_member)
    prices = PriceTable.from_config(
        {"t1": {"input_per_m": 1, "output_per_m": 2, "date": "d", "source": "s"}}
    )
    first = ModelPool({"t1": backend}, prices, CallCache(tmp_path / "c.sqlite")).generate(
        "t1", PROMPTS
    )

    def fail(*args, **kwargs):
        raise AssertionError("a cached prompt reached the model")

    monkeypatch.setattr(backend.model, "generate", fail)
    pool = ModelPool({"t1": backend}, prices, CallCache(tmp_path / "c.sqlite"))
    again = pool.generate("t1", PROMPTS)
    assert [c.text for c in again] == [c.text for c in first]
    assert pool.cache.stats() == {"cache_hits": 4, "cache_misses": 0}


def test_fingerprint_follows_the_weights(tiny_member):
    assert folder_fingerprint(tiny_member) == TransformersBackend(tiny_member).fingerprint


def test_fingerprint_follows_every_file_and_the_settings_that_change_answers(tiny_member, tmp_path):
    """A cached answer is only reused for the same folder read the same way: a chat template (in a
    file of its own, or switched on) or special tokens change the prompt the model sees."""
    import shutil

    plain = TransformersBackend(tiny_member).fingerprint
    # this tokenizer adds no special tokens: asking for them changes nothing, the cache key included
    assert TransformersBackend(tiny_member, add_special_tokens=True).fingerprint == plain
    assert TransformersBackend(with_bos(tiny_member, tmp_path / "bos"), add_special_tokens=True).fingerprint != (
        TransformersBackend(tmp_path / "bos").fingerprint)
    assert TransformersBackend(tiny_member, dtype="bfloat16").fingerprint != plain
    copy = tmp_path / "member"
    shutil.copytree(tiny_member, copy)
    (copy / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    assert folder_fingerprint(copy) != folder_fingerprint(tiny_member)


def test_overlong_prompt_is_cut_from_the_left(tiny_member, caplog):
    """A malformed subtask longer than the model's positions still gets an answer, not a crash, and
    the cut is said once per setting."""
    backend = TransformersBackend(tiny_member)
    long = "1+" * 80 + "003+004="
    out = backend.generate([long, "003+004="], SamplingParams(max_new_tokens=4))
    assert out[0].prompt_tokens == backend.max_positions - 4 and out[1].prompt_tokens == 8
    assert 1 <= out[0].completion_tokens <= 4
    cut = [r.getMessage() for r in caplog.records if "longer than its" in r.getMessage()]
    assert len(cut) == 1 and cut[0].startswith(f"1 of 2 prompts to {tiny_member} are longer than its "
                                               f"{backend.max_positions} positions less max_new_tokens 4")
    backend.generate([long], SamplingParams(max_new_tokens=4))
    exact = "1+" * ((backend.max_positions - 4 - 8) // 2) + "003+004="  # fills the room, loses nothing
    backend.generate([exact], SamplingParams(max_new_tokens=4, seed=1))
    assert len([r for r in caplog.records if "longer than its" in r.getMessage()]) == 1


def test_top_logprobs_follow_the_greedy_path(tiny_member, tmp_path):
    backend = TransformersBackend(tiny_member, batch_size=8)
    sampling = SamplingParams(max_new_tokens=4, logprobs=True, top_logprobs=3)
    for c in backend.generate(PROMPTS, sampling):
        assert len(c.top_logprobs) == c.completion_tokens
        for position, chosen in zip(c.top_logprobs, c.token_logprobs):
            assert 1 <= len(position) <= 3 and max(position.values()) == chosen  # greedy takes the top
        assert c.text.startswith(max(c.top_logprobs[0], key=c.top_logprobs[0].get).strip() or "")
    pool = ModelPool({"m": backend}, PriceTable.from_config({"m": {"input_per_m": 1, "output_per_m": 1,
                                                                   "date": "d", "source": "s"}}),
                     CallCache(tmp_path / "calls.sqlite"))
    first = pool.generate("m", PROMPTS[:1], sampling)[0]
    again = pool.generate("m", PROMPTS[:1], sampling)[0]
    assert again.cached and again.top_logprobs == first.top_logprobs  # survives the call cache


def test_greedy_is_the_models_argmax_whatever_the_folders_decoding_defaults(tiny_member, tmp_path):
    """An instruct model's generation_config.json may set repetition_penalty: the pool's greedy
    answers and log-probabilities are the model's own, not penalised ones."""
    import json
    import shutil

    penalised = tmp_path / "penalised"
    shutil.copytree(tiny_member, penalised)
    config = json.loads((penalised / "generation_config.json").read_text())
    config.update(repetition_penalty=1.5, no_repeat_ngram_size=2)
    (penalised / "generation_config.json").write_text(json.dumps(config))
    sampling = SamplingParams(max_new_tokens=4, logprobs=True, top_logprobs=3)
    plain, other = TransformersBackend(tiny_member), TransformersBackend(penalised)
    for a, b in zip(plain.generate(PROMPTS, sampling), other.generate(PROMPTS, sampling)):
        assert a.text == b.text and a.token_logprobs == pytest.approx(b.token_logprobs)
        assert [sorted(p) for p in a.top_logprobs] == [sorted(p) for p in b.top_logprobs]


def test_a_stop_string_ends_the_text_and_the_count_as_an_endpoint_does(tiny_member):
    """Tokens after a stop string are neither returned nor charged (an endpoint stops there)."""
    backend = TransformersBackend(tiny_member)
    free = SamplingParams(max_new_tokens=6, logprobs=True)
    checked = 0
    for prompt, full in zip(PROMPTS, backend.generate(PROMPTS, free)):
        if len(full.text) < 2:
            continue
        checked += 1
        stop = full.text[-2:]  # two tokens: one per character in the micro tokenizer
        cut, charged = full.text.index(stop), full.text.index(stop) + len(stop)
        stopped = backend.generate([prompt], SamplingParams(max_new_tokens=6, logprobs=True, stop=(stop,)))[0]
        assert stopped.text == full.text[:cut]
        assert stopped.completion_tokens == charged <= full.completion_tokens
        assert stopped.token_logprobs == pytest.approx(full.token_logprobs[:charged])
    assert checked > 0
    unstopped = backend.generate(PROMPTS, SamplingParams(max_new_tokens=6))
    batched = backend.generate(PROMPTS, SamplingParams(max_new_tokens=6, stop=("0",)))
    assert any("0" in c.text for c in unstopped) and all("0" not in c.text for c in batched)


def with_bos(folder, dest):
    """A copy of the folder whose tokenizer adds <bos> to every text, as Llama-family base
    tokenizers do."""
    import shutil

    from tokenizers import Tokenizer, processors

    shutil.copytree(folder, dest)
    core = Tokenizer.from_file(str(dest / "tokenizer.json"))
    core.post_processor = processors.TemplateProcessing(single="<bos> $A",
                                                        special_tokens=[("<bos>", core.token_to_id("<bos>"))])
    core.save(str(dest / "tokenizer.json"))
    return dest


def test_a_trained_router_reads_its_prompts_as_trl_trained_it(tiny_member, tmp_path):
    """TRL's SFT and GRPO tokenize a plain prompt with the tokenizer's special tokens and a chat
    prompt through the template alone; a router served otherwise would read a context it never
    trained on (for a base Llama-family backbone: no BOS). Pool members keep no special tokens."""
    from trl.data_utils import _tokenize  # what SFTTrainer calls on each prompt

    folder = with_bos(tiny_member, tmp_path / "bos")
    prompt = "003+004="
    router, member = trained_router(folder), TransformersBackend(folder)
    trained = _tokenize(router.tokenizer, prompt)["input_ids"]
    assert trained[0] == router.tokenizer.bos_token_id
    assert router.encode([prompt], 4)["input_ids"][0].tolist() == trained
    assert member.encode([prompt], 4)["input_ids"][0].tolist() == trained[1:]
    assert router.fingerprint != member.fingerprint

    (folder / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}=>")
    chat = trained_router(folder)
    trained = _tokenize(chat.tokenizer, [{"role": "user", "content": prompt}], add_generation_prompt=True)["input_ids"]
    assert chat.encode([prompt], 4)["input_ids"][0].tolist() == list(trained)

    # where the tokenizer adds nothing (the micro routers), nothing changes, cache key included
    assert trained_router(tiny_member).fingerprint == TransformersBackend(tiny_member).fingerprint


def test_every_end_token_of_the_generation_config_ends_a_completion(tiny_member, tmp_path):
    """Instruct models list several end tokens (Qwen2.5: <|im_end|> and <|endoftext|>); vLLM and
    endpoints stop at any of them, and so must this backend, in its text and in its token count."""
    import json
    import shutil

    sampling = SamplingParams(max_new_tokens=6, logprobs=True)
    plain = TransformersBackend(tiny_member)
    out = plain.generate(PROMPTS, sampling)
    # the first token of a longer answer: made an end token, it ends that answer at once
    row = next(i for i, c in enumerate(out) if c.completion_tokens >= 2)
    second = plain.tokenizer(out[row].text, add_special_tokens=False)["input_ids"][0]
    ended = tmp_path / "ended"
    shutil.copytree(tiny_member, ended)
    config = json.loads((ended / "generation_config.json").read_text())
    config["eos_token_id"] = [plain.tokenizer.eos_token_id, second]
    (ended / "generation_config.json").write_text(json.dumps(config))
    backend = TransformersBackend(ended)
    assert backend.ends == {plain.tokenizer.eos_token_id, second}
    assert backend.fingerprint != plain.fingerprint  # its answers differ from the single-end ones
    cut = backend.generate(PROMPTS, sampling)[row]
    assert cut.completion_tokens == 1 and cut.text == ""
    assert cut.token_logprobs == pytest.approx(out[row].token_logprobs[:1])


def test_call_tokens_counts_a_call_as_the_backend_would_be_charged(tiny_member):
    from r2_pipeline.pool.base import call_tokens

    backend = TransformersBackend(tiny_member)
    out = backend.generate(["003+004="], SamplingParams(max_new_tokens=4))[0]
    assert call_tokens(backend, "003+004=", out.text)[0] == out.prompt_tokens
    assert call_tokens(backend, "003+004=", "700") == (out.prompt_tokens, 4)  # three digits and the end token
    assert call_tokens(object(), "a", "b") is None  # an endpoint: no tokenizer here
