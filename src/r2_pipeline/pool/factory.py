"""Build a ModelPool from a manifest (member -> backend spec) and a price block."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..paths import from_root
from ..ranks import world_size
from .budget import RUN, Budget, Caps
from .cache import CallCache
from .pool import ModelPool, make_backend
from .prices import PriceTable

_BACKENDS_LOADED: dict[tuple, Any] = {}


def _backend(name: str, spec: Mapping[str, Any]):
    """Backends are loaded once per process: nodes of one run share the weights in memory. The key
    holds the resolved folder and its files' sizes and times, so another project's folder of the
    same relative path, or a folder retrained since (a second `session.run()` in a notebook), is
    loaded afresh; so is an endpoint member whose `weights` folder changed (its cache fingerprint
    hashes that folder)."""
    kwargs = {k: v for k, v in spec.items() if k != "backend"}
    if spec["backend"] == "transformers" and "path" in kwargs:  # always a local folder
        kwargs["path"] = from_root(kwargs["path"])
    if spec["backend"] == "vllm" and "model" in kwargs and Path(from_root(kwargs["model"])).is_dir():  # else a hub id
        kwargs["model"] = from_root(kwargs["model"])
    if spec["backend"] == "openai":
        kwargs.setdefault("name", name)  # errors then name the member, not only the URL
    # the weights behind the member: an endpoint serving a folder trained here names it as `weights`
    weights = from_root(kwargs["weights"]) if kwargs.get("weights") else None
    folder = {"transformers": kwargs.get("path"), "openai": weights}.get(spec["backend"], kwargs.get("model"))
    key = (name, spec["backend"], *sorted((k, str(v)) for k, v in kwargs.items()), _folder_state(folder))
    if key not in _BACKENDS_LOADED:
        _BACKENDS_LOADED[key] = make_backend(spec["backend"], **kwargs)
    return _BACKENDS_LOADED[key]


def _folder_state(folder: Any) -> tuple:
    """(name, size, mtime) of a local model folder's files; empty for a hub id or an endpoint."""
    if folder is None or not Path(str(folder)).is_dir():
        return ()
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(Path(str(folder)).iterdir())
                 if f.is_file())


def build_pool(
    manifest: Mapping[str, Mapping[str, Any]],
    prices: Mapping[str, Mapping[str, Any]],
    cache_path: str | None = None,
    price_table: str = "default",
    caps: Caps | None = None,
) -> ModelPool:
    """With `caps`, the pool's batches count against the spend of the run in progress (budget.RUN),
    shared with every other pool built for the run."""
    table = PriceTable.from_config(prices, name=price_table)
    backends = {name: _backend(name, spec) for name, spec in manifest.items()}
    budget = Budget(caps, table, RUN, resumable=bool(cache_path)) if caps is not None else None
    return ModelPool(backends, table, CallCache(from_root(cache_path)) if cache_path else None, budget)


def pool_from_params(manifest: Mapping[str, Mapping[str, Any]], pool: Mapping[str, Any]) -> ModelPool:
    """The pool a node works with: the members of `params:pool`, a trained member's folder taken
    from the manifest, priced, cached and capped (`budget_usd`, `member_budget_usd`) per `params:pool`:
    under a multi-process launch, each process to its share of the caps."""
    return build_pool(member_specs(manifest, pool), pool["prices"], pool.get("cache_path"), pool["price_table"],
                      Caps.from_params(pool, world_size()))


def member_specs(manifest: Mapping[str, Mapping[str, Any]], pool: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each member as `pool.members` describes it now; the manifest (written by `model_pool`) only
    adds the folder of a member trained here. So an endpoint edited in the parameters is the one
    the preflight checks and the one the nodes call, without rewriting the manifest."""
    specs = {}
    for name, member in pool["members"].items():
        spec = dict(member)
        if spec.get("backend") == "transformers" and "path" not in spec:
            if "path" not in manifest.get(name, {}):
                raise ValueError(f"pool member {name!r} has no `path` and no trained folder in the pool manifest: "
                                 "train it with `kedro run --pipelines model_pool`")
            spec["path"] = manifest[name]["path"]
        specs[name] = spec
    return specs


def check_ladder(ladder: Sequence[str], members: Iterable[str]) -> None:
    """An explicit `pool.ladder` lists every member once."""
    if sorted(ladder) != sorted(members):
        raise ValueError(f"pool.ladder must list every member once: it lists {list(ladder)}, the members are "
                         f"{list(members)}")


def ladder_order(pool: Mapping[str, Any]) -> list[str]:
    """Members of `params:pool` from cheapest to dearest: `pool.ladder` when given, else by output
    price, then input price (ties in the members' order)."""
    if pool.get("ladder"):
        check_ladder(pool["ladder"], pool["members"])
        return list(pool["ladder"])
    prices = pool["prices"]
    return sorted(pool["members"], key=lambda m: (prices[m]["output_per_m"], prices[m]["input_per_m"]))


def router_pool(decomposer, allocator, price: Mapping[str, Any], cache: CallCache | None = None) -> ModelPool:
    """The router's two models as a pool of their own, both priced as the router member."""
    prices = PriceTable.from_config({"decomposer": price, "allocator": price})
    return ModelPool({"decomposer": decomposer, "allocator": allocator}, prices, cache)
