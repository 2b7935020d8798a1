"""Recompute a finished run's dollars under another dated price table, from stored token counts only.

The summary splits API spend (tokens billed by a remote endpoint) from local compute (weights we run:
in-process backends and our own servers), and the router's tokens from the pool's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from .prices import PriceTable

TOKEN_COLUMNS = ["prompt_tokens", "completion_tokens"]


SHARED_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, Tailscale: not the internet


# names only a private network resolves (mDNS, RFC 8375, ICANN's reserved .internal, Kubernetes)
PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".localdomain")


def is_local_url(url: str) -> bool:
    """Loopback and private-network hosts are servers we run, not a provider that bills us; so are
    single-label host names (`gpu-node-3`) and private-use domains (`gpu1.cluster.local`), which only
    a local network resolves."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(PRIVATE_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bool(host) and "." not in host
    return address.is_loopback or address.is_private or address.is_unspecified or address in SHARED_SPACE


def spend_kind(spec: Mapping[str, Any]) -> str:
    """'api' for an `openai` member at a remote URL, 'local' for everything we serve ourselves."""
    if spec.get("backend") == "openai" and not is_local_url(str(spec.get("base_url", ""))):
        return "api"
    return "local"


def reprice(results: pd.DataFrame, prices: PriceTable) -> pd.DataFrame:
    """A copy of `results` whose `cost_usd`, `price_table` and `price_date` come from `prices`.

    Rows without a member (steps that made no call) cost nothing; a member missing from `prices`
    raises rather than silently costing zero.
    """
    out = results.copy()
    called = out["member"].notna()
    rows = out.loc[called, ["member", *TOKEN_COLUMNS]].to_dict("records")
    out["cost_usd"] = 0.0
    out.loc[called, "cost_usd"] = prices.reprice(rows)
    out["price_table"] = prices.name
    out["price_date"] = out["member"].map(prices.dates)
    return out


def with_router_rows(steps: pd.DataFrame, results: pd.DataFrame, router_member: str) -> pd.DataFrame:
    """The per-step table plus one row per question for the router's own tokens (decomposer and
    allocator together, from the per-question table's `router_*_tokens`), priced as
    `router_member` and marked `role: router`. The step table holds pool calls only: repriced
    alone it leaves the router out of every routed method's cost."""
    spent = results[(results["router_prompt_tokens"] > 0) | (results["router_completion_tokens"] > 0)]
    router = pd.DataFrame({
        "method": spent["method"].to_numpy(),
        "id": spent["id"].to_numpy(),
        "member": router_member,
        "prompt_tokens": spent["router_prompt_tokens"].to_numpy(),
        "completion_tokens": spent["router_completion_tokens"].to_numpy(),
        "cost_usd": spent["router_cost_usd"].to_numpy(),
        "role": "router",
    })
    pool = steps.assign(role=steps["role"] if "role" in steps else "pool")
    return pd.concat([pool, router], ignore_index=True)


def spend_summary(
    results: pd.DataFrame,
    prices: PriceTable,
    manifest: Mapping[str, Mapping[str, Any]],
    router_members: Collection[str] = (),
) -> pd.DataFrame:
    """Calls, tokens and dollars by source (router | pool) and spend (api | local), under `prices`.

    A `role` column in `results`, when present, says which rows are the router's; otherwise rows of
    `router_members` are. The router runs our own weights: local spend, unless the manifest lists its
    price entry as a member (an endpoint serving it).
    """
    priced = reprice(results, prices)
    priced = priced[priced["member"].notna()]
    is_router = (
        priced["role"].eq("router") if "role" in priced else priced["member"].isin(router_members)
    )
    unknown = sorted(set(priced.loc[~is_router, "member"]) - set(manifest))
    if unknown:
        raise KeyError(f"members in the results but not in the pool manifest: {unknown}")
    kinds = {name: spend_kind(spec) for name, spec in manifest.items()}
    priced = priced.assign(
        source=is_router.map({True: "router", False: "pool"}),
        spend=priced["member"].map(kinds).where(~is_router | priced["member"].isin(kinds), "local"),
        calls=1,
    )
    columns = ["calls", *TOKEN_COLUMNS, "cost_usd"]
    return priced.groupby(["source", "spend"], as_index=False)[columns].sum()
