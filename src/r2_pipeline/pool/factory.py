"""Build a ModelPool from a manifest (member -> backend spec) and a price block."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..paths import from_root
from .cache import CallCache
from .pool import ModelPool, make_backend
from .prices import PriceTable

_BACKENDS_LOADED: dict[tuple, Any] = {}


def _backend(name: str, spec: Mapping[str, Any]):
    """Backends are loaded once per process: nodes of one run share the weights in memory."""
    key = (name, *sorted((k, str(v)) for k, v in spec.items()))
    if key not in _BACKENDS_LOADED:
        kwargs = {k: v for k, v in spec.items() if k != "backend"}
        if spec["backend"] == "transformers" and "path" in kwargs:  # always a local folder
            kwargs["path"] = from_root(kwargs["path"])
        if spec["backend"] == "vllm" and "model" in kwargs and Path(from_root(kwargs["model"])).is_dir():  # else a hub id
            kwargs["model"] = from_root(kwargs["model"])
        if spec["backend"] == "openai":
            kwargs.setdefault("name", name)  # errors then name the member, not only the URL
        _BACKENDS_LOADED[key] = make_backend(spec["backend"], **kwargs)
    return _BACKENDS_LOADED[key]


def build_pool(
    manifest: Mapping[str, Mapping[str, Any]],
    prices: Mapping[str, Mapping[str, Any]],
    cache_path: str | None = None,
    price_table: str = "default",
) -> ModelPool:
    table = PriceTable.from_config(prices, name=price_table)
    backends = {name: _backend(name, spec) for name, spec in manifest.items()}
    return ModelPool(backends, table, CallCache(from_root(cache_path)) if cache_path else None)


def pool_from_params(manifest: Mapping[str, Mapping[str, Any]], pool: Mapping[str, Any]) -> ModelPool:
    """The pool a node works with: the manifest's members, priced and cached per `params:pool`."""
    check_manifest(manifest, pool)
    return build_pool(manifest, pool["prices"], pool.get("cache_path"), pool["price_table"])


def check_manifest(manifest: Mapping[str, Mapping[str, Any]], pool: Mapping[str, Any]) -> None:
    """The manifest (written by `model_pool`) must describe the members `pool.members` describes, a
    trained member's folder aside: an endpoint edited in the parameters after the manifest was
    written would otherwise be checked by the preflight but never called."""
    members = pool["members"]
    stale = sorted(set(members) ^ set(manifest))
    stale += [name for name in members if name in manifest
              and {k: v for k, v in manifest[name].items() if k != "path" or "path" in members[name]}
              != dict(members[name])]
    if stale:
        raise ValueError(f"the pool manifest does not match pool.members in the parameters for {sorted(set(stale))}: "
                         "rewrite it with `kedro run --pipelines model_pool` (paper profile: `--nodes "
                         "train_tiers_node,write_manifest_node`)")


def ladder_order(pool: Mapping[str, Any]) -> list[str]:
    """Members of `params:pool` from cheapest to dearest (output price, then input price)."""
    prices = pool["prices"]
    return sorted(pool["members"], key=lambda m: (prices[m]["output_per_m"], prices[m]["input_per_m"]))


def router_pool(decomposer, allocator, price: Mapping[str, Any], cache: CallCache | None = None) -> ModelPool:
    """The router's two models as a pool of their own, both priced as the router member."""
    prices = PriceTable.from_config({"decomposer": price, "allocator": price})
    return ModelPool({"decomposer": decomposer, "allocator": allocator}, prices, cache)
