"""Fail fast on unreachable endpoints: before a run, every `openai` pool member must answer a cheap
GET /models (and list its model), or one error names each failing member and its URL, never a key.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .pool import make_backend

logger = logging.getLogger(__name__)

TIMEOUT_S = 5.0  # per member; the members are checked at once, so this bounds the whole check
MAX_WORKERS = 16


class EndpointsUnreachable(RuntimeError):
    """Some pool endpoints did not answer, refused the key, or do not serve the configured model."""


def endpoint_members(pool_params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The members served over HTTP (`backend: openai`), name -> spec."""
    members = pool_params.get("members") or {}
    return {name: dict(spec) for name, spec in members.items() if spec.get("backend") == "openai"}


def check_endpoints(pool_params: Mapping[str, Any], timeout_s: float = TIMEOUT_S) -> list[str]:
    """Check every endpoint member concurrently; returns the names checked, raises listing failures."""
    members = endpoint_members(pool_params)
    if not members:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(members))) as workers:
        problems = list(workers.map(lambda item: _problem(*item, timeout_s), members.items()))
    failed = [p for p in problems if p]
    if failed:
        raise EndpointsUnreachable(
            f"{len(failed)} of {len(members)} pool endpoints failed the preflight check "
            "(start the servers or fix pool.members in the parameters):\n  - "
            + "\n  - ".join(failed)
        )
    logger.info("preflight: %d pool endpoints answered: %s", len(members), ", ".join(members))
    return list(members)


def _problem(name: str, spec: dict[str, Any], timeout_s: float) -> str | None:
    """None when the member's endpoint answers and lists its model, else a one-line reason."""
    kwargs = {k: v for k, v in spec.items() if k not in {"backend", "name"}}
    kwargs["timeout_s"] = min(float(kwargs.get("timeout_s", timeout_s)), timeout_s)
    kwargs["max_retries"] = 0
    where = (
        f"model {spec.get('model')!r} at {str(spec.get('base_url', '<no base_url>')).rstrip('/')}"
    )
    try:
        make_backend("openai", name=name, **kwargs).check()
    except Exception as exc:  # every member's failure is reported, not just the first
        reason = " ".join(str(exc).split()) or type(exc).__name__
        # the backend's message starts with member, model and URL: keep them once, from `where`
        reason = reason.removeprefix(f"pool member {name!r}: {where}: ")
        return _redact(f"{name}: {where}: {reason}", spec)
    return None


def _redact(text: str, spec: Mapping[str, Any]) -> str:
    from .openai_backend import redact  # the failing member's backend already imported it

    env = spec.get("api_key_env")
    return redact(text, spec.get("api_key"), os.environ.get(env) if env else None)
