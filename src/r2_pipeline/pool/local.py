"""Local Hugging Face causal LMs as pool members: batched, left-padded `generate` on CPU or GPU."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path

import torch

from .base import Completion, SamplingParams

logger = logging.getLogger(__name__)


def folder_fingerprint(path: str | Path) -> str:
    """Hash of every file of a model folder (weights, configs, tokenizer files such as
    `tokenizer.model`, `merges.txt` or `chat_template.jinja`): a retrained or re-tokenised member
    never hits stale cache."""
    digest = hashlib.sha256()
    for file in sorted(Path(path).iterdir()):
        if file.is_file():
            digest.update(file.name.encode())
            with file.open("rb") as f:  # in chunks: a paper-scale member's shards are gigabytes each
                for chunk in iter(lambda: f.read(1 << 24), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:16]


def backend_fingerprint(folder: str, dtype: str, add_special_tokens: bool, chat_template: bool) -> str:
    """The folder's hash, plus the loading settings that change what the model writes; the
    defaults (float32, no special tokens, no chat template) add nothing, so caches of runs with
    the defaults stay valid."""
    settings = (dtype, add_special_tokens, chat_template)
    if settings == ("float32", False, False):
        return folder
    payload = "\x1f".join([folder, *map(str, settings)])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_tokenizer(path: str | Path):
    """Load the folder's own tokenizer.json (AutoTokenizer may swap in a hub class and ignore it)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(path)
    tokenizer_config = path / "tokenizer_config.json"
    if (path / "tokenizer.json").exists() and tokenizer_config.exists():
        import json

        cls = json.loads(tokenizer_config.read_text()).get("tokenizer_class", "")
        if cls in {"", "PreTrainedTokenizerFast", "TokenizersBackend"}:
            tokenizer = PreTrainedTokenizerFast.from_pretrained(path)
        else:
            tokenizer = AutoTokenizer.from_pretrained(path)
    else:
        tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def neutral_generation_config(folder_config):
    """The folder's token ids without its decoding defaults. transformers applies a folder's
    `generation_config.json` (an instruct model's `repetition_penalty`, `no_repeat_ngram_size`, ...)
    even to greedy calls, so "greedy" would not be the model's argmax and the log-probabilities the
    allocator decoding reads would be penalised ones. Sampling is what `SamplingParams` says."""
    from transformers import GenerationConfig

    ids = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")
    return GenerationConfig(**{k: getattr(folder_config, k, None) for k in ids})


def end_tokens(configured: int | list[int] | None, tokenizer_eos: int | None) -> frozenset[int]:
    """The ids that end a completion: the generation config's end token(s) and the tokenizer's."""
    ids = configured if isinstance(configured, list) else [configured]
    return frozenset(i for i in [*ids, tokenizer_eos] if i is not None)


def trained_router(path: str | Path, **kwargs) -> TransformersBackend:
    """A decomposer or allocator trained by TRL, tokenized as TRL tokenized its training prompts: a
    plain prompt with the tokenizer's special tokens (`tokenizer(text)`, so a base Llama-family
    backbone gets its BOS), a chat prompt through the chat template alone. Pool members trained here
    (training/pretrain.py) saw no special tokens, and are loaded with the default. (A tokenizer that
    also appends a token, an EOS, would get it after the prompt too, which TRL's prompt-completion
    SFT leaves out of the prompt; no causal LM backbone configured here does.)"""
    return TransformersBackend(path, add_special_tokens=None, **kwargs)


def row_seed(seed: int, prompt: str, stream: str = "") -> int:
    """The seed of one prompt's draw: a sampled answer depends on (seed, prompt, the model's
    `stream`) alone, never on the batch the prompt came in, so a call is exact to rerun and its
    cache entry is what it would say. Members draw from streams of their own (their weights' hash):
    two members asked one prompt at one seed sample independently."""
    digest = hashlib.sha256(f"{seed}\x1f{stream}\x1f{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class RowSeededSampling:
    """A logits processor that samples each row from its own seeded stream by the Gumbel-max trick:
    argmax(logits / T + Gumbel noise) is a draw from softmax(logits / T), and greedy decoding over
    the noised scores takes it. The noise of a row's k-th token comes from that row's generator."""

    def __init__(self, seeds: list[int], temperature: float, top_p: float = 1.0):
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores / self.temperature
        if self.top_p < 1.0:
            from transformers.generation.logits_process import TopPLogitsWarper

            scores = TopPLogitsWarper(self.top_p)(input_ids, scores)
        uniform = torch.stack([torch.rand(scores.shape[-1], generator=g) for g in self.generators])
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-20, 1.0 - 1e-7)))
        return scores + gumbel.to(scores.device, scores.dtype)


class TransformersBackend:
    """A model folder loaded once; `generate` pads a batch on the left and decodes only new tokens.

    `temperature` makes a member that answers by sampling: every call to it samples at that
    temperature whatever the caller asked, each prompt's draw seeded by the call's
    `SamplingParams.seed` and the prompt (`row_seed`). A micro member solves a step some of the
    time, as a mid-size model does, and a rerun, or the call cache, gives the same answer."""

    # torch already spreads one batch over every core: members in this process answer one at a time
    concurrent = False

    def __init__(
        self,
        path: str | Path,
        batch_size: int = 256,
        device: str = "cpu",
        dtype: str = "float32",
        add_special_tokens: bool | None = False,
        chat_template: bool | None = None,
        temperature: float | None = None,
    ):
        from transformers import AutoModelForCausalLM

        self.path = Path(path)
        if not self.path.is_dir():
            raise FileNotFoundError(f"model folder {self.path} does not exist")
        self.tokenizer = load_tokenizer(self.path)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=getattr(torch, dtype))
        self.model.to(device).eval()
        self.model.generation_config = neutral_generation_config(self.model.generation_config)
        self.device = device
        self.batch_size = batch_size
        if temperature is not None and temperature < 0:
            raise ValueError(f"temperature {temperature} of {self.path} must be >= 0")
        self.temperature = temperature
        # None: use the folder's chat template when it has one (pretrained instruct backbones)
        self.chat_template = bool(self.tokenizer.chat_template) if chat_template is None else chat_template
        # None: as TRL tokenized the prompts it trained on (`trained_router`), so a router is served
        # the context it learnt; only a tokenizer that adds special tokens (a BOS) is affected, and
        # for any other the setting changes nothing, fingerprint included
        if add_special_tokens is None:
            add_special_tokens = not self.chat_template
        self.add_special_tokens = add_special_tokens and self._adds_special_tokens()
        # every token that ends a turn: instruct models list several in generation_config.json
        # (Qwen2.5: <|im_end|> and <|endoftext|>), as vLLM and endpoints honour them
        self.ends = end_tokens(self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id)
        fingerprint = folder_fingerprint(self.path)
        if len(self.ends) > 1:  # answers cut at the first of several ends are not the earlier ones
            fingerprint = hashlib.sha256(f"{fingerprint}\x1fends={sorted(self.ends)}".encode()).hexdigest()[:16]
        self.fingerprint = backend_fingerprint(fingerprint, dtype, self.add_special_tokens, self.chat_template)
        self.stream = self.fingerprint  # the weights' own random stream (row_seed)
        if temperature is not None:  # the member's own temperature, and how it samples, decide what it writes
            salt = f"{self.fingerprint}\x1fT={float(temperature)}\x1fsampler=row-gumbel-per-member"
            self.fingerprint = hashlib.sha256(salt.encode()).hexdigest()[:16]
        self.max_positions = getattr(self.model.config, "max_position_embeddings", None)
        self._warned_cut: set[int] = set()  # the max_new_tokens settings that have cut a prompt
        self.tokenizer.truncation_side = "left"

    def _adds_special_tokens(self) -> bool:
        probe = "1 + 2 ="
        return self.tokenizer(probe)["input_ids"] != self.tokenizer(probe, add_special_tokens=False)["input_ids"]

    def _render(self, prompt: str) -> str:
        if not self.chat_template:
            return prompt
        messages = [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list[str], sampling: SamplingParams) -> list[Completion]:
        if self.temperature is not None:
            sampling = replace(sampling, temperature=self.temperature)
        if self.max_positions is not None and sampling.max_new_tokens >= self.max_positions:
            raise ValueError(
                f"max_new_tokens {sampling.max_new_tokens} leaves no room for a prompt in {self.path} "
                f"({self.max_positions} positions)"
            )
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self._generate_batch(prompts[start : start + self.batch_size], sampling))
        return out

    def encode(self, prompts: list[str], max_new_tokens: int):
        """The batch as the model reads it: rendered, tokenized, left-padded."""
        rendered = [self._render(p) for p in prompts]
        limit = None if self.max_positions is None else self.max_positions - max_new_tokens
        enc = self.tokenizer(
            rendered,
            return_tensors="pt",
            padding=True,
            add_special_tokens=self.add_special_tokens,
            # a prompt longer than the model's positions keeps its end (where the question is)
            truncation=limit is not None,
            max_length=limit,
        )
        if limit is not None:
            self._warn_cut(rendered, enc["attention_mask"].sum(dim=1).tolist(), limit, max_new_tokens)
        return enc.to(self.device)

    def _warn_cut(self, rendered: list[str], lengths: list[int], limit: int, max_new_tokens: int) -> None:
        """Say so, once per setting, when prompts lose their start: the model then answers another
        question than the one asked. Only rows that fill the limit are tokenized again to tell."""
        full = [r for r, n in zip(rendered, lengths) if n == limit]
        if not full or max_new_tokens in self._warned_cut:
            return
        cut = sum(len(ids) > limit for ids in self.tokenizer(full, add_special_tokens=self.add_special_tokens)["input_ids"])
        if cut:
            self._warned_cut.add(max_new_tokens)
            logger.warning("%d of %d prompts to %s are longer than its %d positions less max_new_tokens %d: each "
                           "keeps its last %d tokens (lower max_new_tokens, or give the model more positions)",
                           cut, len(rendered), self.path, self.max_positions, max_new_tokens, limit)

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[str], sampling: SamplingParams) -> list[Completion]:
        enc = self.encode(prompts, sampling.max_new_tokens)
        if sampling.greedy:
            gen = self._generate(enc, sampling)
            scores = gen.scores
        else:  # every row from its own generator: the caller's random stream (GRPO's policy) is untouched
            rows = RowSeededSampling([row_seed(sampling.seed, p, self.stream) for p in prompts], sampling.temperature,
                                     sampling.top_p)
            gen = self._generate(enc, sampling, rows)
            # probabilities of the distribution sampled from, not of the noised scores
            scores = [logits / sampling.temperature for logits in gen.logits] if gen.logits else None
        new = gen.sequences[:, enc["input_ids"].shape[1] :]
        steps = torch.stack(scores, dim=1).log_softmax(dim=-1) if scores else None
        logprobs = self._token_logprobs(steps, new) if sampling.logprobs else None
        top = self._top_logprobs(steps, sampling.top_logprobs) if sampling.top_logprobs > 0 else None
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        out = [
            self._completion(new[i], prompt_lens[i], logprobs[i] if logprobs else None, sampling)
            for i in range(len(prompts))
        ]
        for i, completion in enumerate(out if top else []):
            completion.top_logprobs = top[i][: completion.completion_tokens]
        return out

    def _generate(self, enc, sampling: SamplingParams, rows: RowSeededSampling | None = None):
        """Greedy decoding; with `rows`, greedy over the row-seeded noised scores, which samples."""
        wants_scores = sampling.logprobs or sampling.top_logprobs > 0
        return self.model.generate(
            **enc,
            max_new_tokens=sampling.max_new_tokens,
            do_sample=False,
            top_k=None,
            logits_processor=[rows] if rows is not None else None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.ends) or None,
            output_scores=wants_scores and rows is None,
            output_logits=wants_scores and rows is not None,
            return_dict_in_generate=True,
        )

    def _stop_length(self, ids: list[int], length: int, stops: tuple[str, ...]) -> int:
        """The fewest tokens of `ids[:length]` whose text holds a stop string (it does at `length`);
        a longer prefix's text extends a shorter one's, so a binary search finds it."""
        low, high = 1, length
        while low < high:
            middle = (low + high) // 2
            if any(stop in self._decode(ids[:middle]) for stop in stops):
                high = middle
            else:
                low = middle + 1
        return low

    @staticmethod
    def _token_logprobs(steps: torch.Tensor, new: torch.Tensor) -> list[list[float]]:
        """`steps`: log-probabilities per prompt, generated position and vocabulary entry."""
        return steps.gather(-1, new[:, : steps.shape[1], None]).squeeze(-1).tolist()

    def _top_logprobs(self, steps: torch.Tensor, k: int) -> list[list[dict[str, float]]]:
        """Per prompt and generated position, the k most likely tokens' texts and log-probabilities."""
        values, ids = steps.topk(min(k, steps.shape[-1]), dim=-1)
        texts = {t: self.tokenizer.decode([t]) for t in ids.unique().tolist()}
        return [
            [{texts[t]: v for t, v in zip(pos_ids, pos_values)} for pos_ids, pos_values in zip(row_ids, row_values)]
            for row_ids, row_values in zip(ids.tolist(), values.tolist())
        ]

    def _decode(self, ids: list[int]) -> str:
        pad = self.tokenizer.pad_token_id
        return self.tokenizer.decode([t for t in ids if t not in self.ends and t != pad], skip_special_tokens=True)

    def _completion(self, ids: torch.Tensor, prompt_len: int, logprobs, sampling) -> Completion:
        ids = ids.tolist()
        length = next((i + 1 for i, t in enumerate(ids) if t in self.ends), len(ids))
        text = self._decode(ids[:length])
        if any(stop in text for stop in sampling.stop):
            # an endpoint stops at the stop string and charges the tokens up to it; so does this
            length = self._stop_length(ids, length, sampling.stop)
            text = self._decode(ids[:length])
            text = text[: min(text.index(stop) for stop in sampling.stop if stop in text)]
        return Completion(
            text=text,
            prompt_tokens=int(prompt_len),
            completion_tokens=length,
            token_logprobs=logprobs[:length] if logprobs is not None else None,
        )
