"""An OpenAI-compatible endpoint's side of the wire: its cache identity, keys kept out of messages,
what a request carries and how a response becomes a Completion (both styles, log-probabilities, the
server's token usage when it sends it)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..paths import from_root
from .base import Completion, SamplingParams
from .retry import Transient


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


def to_completion(
    response: Any, prompt: str, sampling: SamplingParams, style: str, count: Callable[[str], int]
) -> Completion:
    """The first choice as a Completion; `count` tokenizes when the server sent no usage."""
    choice = _first_choice(response)
    text = _choice_text(choice, style)
    for stop in sampling.stop:  # some servers return the stop string; the pool never does
        if stop in text:
            text = text[: text.index(stop)]
    logprobs = _choice_logprobs(choice, style) if sampling.logprobs else None
    top = _choice_top_logprobs(choice, style) if sampling.top_logprobs else None
    usage = getattr(response, "usage", None)
    prompt_tokens = getattr(usage, "prompt_tokens", None)
    completion_tokens = getattr(usage, "completion_tokens", None)
    if isinstance(prompt_tokens, int) and isinstance(completion_tokens, int):
        return Completion(text, prompt_tokens, completion_tokens, logprobs, top_logprobs=top)
    return Completion(
        text, count(prompt), count(text), logprobs, estimated_tokens=True, top_logprobs=top
    )


def _choice_text(choice: Any, style: str) -> str:
    if style == "chat":
        message = getattr(choice, "message", None)
        if message is None:
            raise Transient("malformed response (choice without message)")
        return message.content or ""
    text = getattr(choice, "text", None)
    if not isinstance(text, str):
        raise Transient("malformed response (choice without text)")
    return text


def _first_choice(response: Any) -> Any:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise Transient("malformed response (no choices)")
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
