"""Tiny causal LMs built locally: a character tokenizer and a Llama config, saved as HF folders."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def char_tokenizer(alphabet: Iterable[str], whole: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """One token per character of `alphabet`; anything else maps to <unk>. Each string of `whole`
    that stands as a whole number (no digit on either side) is one token instead."""
    chars = sorted(set(alphabet))
    words = sorted(set(whole) - set(chars), key=lambda w: (-len(w), w))
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    pattern = rf"(?<!\d)(?:{'|'.join(map(re.escape, words))})(?!\d)|." if words else "."
    core.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        padding_side="left",
    )


def _pre_tokenizer(split_digits: bool = False):
    """GPT-2 byte-level pre-tokens; with `split_digits`, every digit of a number is its own token."""
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if not split_digits:
        return byte_level
    return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])


def vocabulary(corpus: Iterable[str], max_number: int = 999, split_digits: bool = False) -> list[str]:
    """Every pre-token of the corpus, plus every number up to `max_number` (whole numbers, with or
    without a leading space, are then single tokens) or, with `split_digits`, the ten digits.

    Whole-number tokens make short copies, but a number rare in the training data has an untrained
    embedding and gets miscopied. Digit tokens are all well trained, but copying digit by digit
    took a tiny model longer to learn (43 of 500 exact micro plans after 1200 steps, against 206),
    which is why micro plans cite the question's numbers (`$k`) instead of copying them."""
    split = _pre_tokenizer(split_digits).pre_tokenize_str
    words = {tok for text in corpus for tok, _ in split(text)}
    if split_digits:
        words.update(tok for d in range(10) for tok, _ in split(f" {d}"))
        return sorted(words)
    # Numbers after a space (quantities) up to `max_number`; bare ones (step numbers, `#k`
    # references) only below 100: half the vocabulary, and the LM head is a third of a step's time.
    for n in range(max_number + 1):
        words.update(tok for tok, _ in split(f" {n}"))
    for n in range(min(max_number, 99) + 1):
        words.update(tok for tok, _ in split(str(n)))
    return sorted(words)


def word_tokenizer(words: Iterable[str], split_digits: bool = False) -> PreTrainedTokenizerFast:
    """Word-level tokenizer over GPT-2 pre-tokens, lossless decoding; numbers are whole tokens or,
    with `split_digits`, one token per digit."""
    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(set(words) - set(SPECIALS)))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = _pre_tokenizer(split_digits)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        padding_side="left",
    )


def tiny_gpt2(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int,
    num_hidden_layers: int,
    num_attention_heads: int = 2,
    max_position_embeddings: int = 64,
    seed: int = 0,
    dropout: float = 0.0,
) -> GPT2LMHeadModel:
    """GPT-2 layout: learned absolute positions suit fixed-width arithmetic better than RoPE."""
    import torch

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=hidden_size,
        n_layer=num_hidden_layers,
        n_head=num_attention_heads,
        n_positions=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        loss_type="ForCausalLM",
    )
    return GPT2LMHeadModel(config)


ARCHITECTURES = {}


def tiny_model(tokenizer, architecture: str = "gpt2", **kwargs):
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown tiny architecture {architecture!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](tokenizer, **kwargs)


def tiny_llama(
    tokenizer: PreTrainedTokenizerFast,
    hidden_size: int,
    num_hidden_layers: int,
    num_attention_heads: int = 2,
    intermediate_multiple: int = 4,
    max_position_embeddings: int = 64,
    seed: int = 0,
    dropout: float = 0.0,
) -> LlamaForCausalLM:
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * intermediate_multiple,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_attention_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
        attention_dropout=dropout,
    )
    return LlamaForCausalLM(config)


ARCHITECTURES.update(gpt2=tiny_gpt2, llama=tiny_llama)


def save_model(model, tokenizer, path: str | Path) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
