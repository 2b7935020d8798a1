"""Entries of `evaluation.methods` (and of a benchmark's own `methods`) into methods.

An entry is a shorthand string or a mapping. A string is a trained router's name (`r2_sft`,
`r2_round_<k>`, `r2`: that router, read as `evaluation.router` says) or a kind's name: `single` and
`tier` mean one method per pool member (`single:<member>`), `random`, `oracle`, `query_router`. A
mapping is `{kind: <kind>, name: <label>, ...the kind's fields}`: `{kind: single, member: t3}`,
`{name: query_router@0.7, kind: query_router, threshold: 0.7}`, `{name: r2_sft@0.9, kind: r2,
router: r2_sft, decoding: {rule: cheapest_likely, min_success: 0.9}, recheck: {tau: 0.85}}`; with
`router` and no `kind` it is an r2 method. Names are free labels; nothing reads a method from its name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from .base import Method
from .registry import METHOD_KINDS

ROUTER_KIND = "r2"  # the kind a trained router's name, or a mapping with `router` and no `kind`, stands for
# in `evaluation.comparisons.pairs`: the dearest member alone, whatever the pool calls it
LARGEST = "largest"


def parse_method(entry: Any, routers: Collection[str]) -> Method:
    """One entry as a method (one that stands for one per member, `single`, still unexpanded);
    `routers` are the trained routers' names. A ValueError says what is wrong with it."""
    if isinstance(entry, Method):
        return entry
    if isinstance(entry, str):
        if entry in routers:
            return _build(ROUTER_KIND, {"router": entry})
        bare = sorted(k for k, cls in METHOD_KINDS.items() if not any(f.is_required() for f in cls.model_fields.values()))
        if entry not in bare:
            raise ValueError(f"unknown method {entry!r}: a string is a kind {bare} or a trained router "
                             f"{list(routers)}; anything else is a mapping, e.g. {{kind: single, member: t1}}")
        return _build(entry, {})
    if not isinstance(entry, Mapping):
        raise ValueError(f"a method is a string or a mapping, not {entry!r}")
    fields = dict(entry)
    kind = fields.pop("kind", ROUTER_KIND if "router" in fields else None)
    if kind is None:
        raise ValueError(f"method {dict(entry)} needs `kind` (one of {sorted(METHOD_KINDS)}), or `router` for a "
                         f"{ROUTER_KIND} method")
    if kind not in METHOD_KINDS:
        raise ValueError(f"unknown method kind {kind!r}; kinds: {sorted(METHOD_KINDS)}")
    method = _build(kind, fields)
    router = method.trained_router(list(routers)[-1] if routers else "")
    if router and router not in routers:
        raise ValueError(f"method {method.label!r} names no trained router: {router!r}; routers: {list(routers)} "
                         "(one r2_round_<k> per rl_refinement.rounds)")
    return method


def _build(kind: str, fields: dict) -> Method:
    try:
        return METHOD_KINDS[kind].model_validate(fields)
    except ValidationError as error:
        raise ValueError(f"{kind} method: " + "; ".join(describe_error(e) for e in error.errors())) from None


def describe_error(error: dict, prefix: Sequence[str] = ()) -> str:
    """One pydantic error as `decoding.min_success = 1.5: <why>` (its key after `prefix`), or the
    message alone for a check on a whole spec, whose input is the spec itself."""
    key = ".".join([*prefix, *(str(p) for p in error["loc"])])
    value = "" if isinstance(error.get("input"), dict) else f" = {error.get('input')!r}"
    message = error["msg"].removeprefix("Value error, ")
    return f"{key}{value}: {message}" if key else message


def expand_methods(entries: Sequence[Any], members: Sequence[str], evaluation: Mapping[str, Any],
                   routers: Collection[str]) -> list[Method]:
    """The methods a list of entries runs in a pool of `members`, each named and with what its spec
    leaves to the `evaluation` block filled in. A name listed twice, or two names for one reading
    (the same kind and fields, defaults filled in), is an error naming them: it would run, and be
    counted, twice."""
    methods = [m for entry in entries for m in parse_method(entry, routers).for_members(members)]
    methods = [m.model_copy(update={"name": m.label}).resolve(evaluation) for m in methods]
    names = [m.label for m in methods]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"methods {repeated} are listed twice (`single` and `tier` already mean every member): "
                         "each method runs once")
    readings: dict[str, str] = {}
    for method in methods:
        if (same := readings.setdefault(method.reading(), method.label)) != method.label:
            raise ValueError(f"methods {same!r} and {method.label!r} are one reading (the same kind and fields, "
                             "`evaluation.router` and `evaluation.query_router` filled in): each method runs once")
    return methods


def benchmark_methods(evaluation: Mapping[str, Any], benchmark: str, members: Sequence[str],
                      routers: Collection[str]) -> list[Method]:
    """What one benchmark runs: its own `methods`, or else `evaluation.methods`."""
    spec = evaluation["benchmarks"][benchmark] or {}
    return expand_methods(spec.get("methods") or evaluation["methods"], members, evaluation, routers)


def planned_methods(evaluation: Mapping[str, Any], members: Sequence[str], routers: Collection[str]) -> list[Method]:
    """Every method some benchmark runs, once each. One name means one reading on every benchmark:
    the metrics, the plot and the comparisons know a method by its name."""
    planned: dict[str, Method] = {}
    for name in evaluation["benchmarks"]:
        for method in benchmark_methods(evaluation, name, members, routers):
            if planned.setdefault(method.label, method).reading() != method.reading():
                raise ValueError(f"method name {method.label!r} stands for two methods on different benchmarks "
                                 f"(benchmarks.{name}.methods): give each its own name")
    return list(planned.values())


def alone(methods: Sequence[Method], member: str) -> str | None:
    """The name of the method that gives `member` every step alone (`single` on it), if one runs."""
    single = METHOD_KINDS["single"]
    return next((m.label for m in methods if type(m) is single and m.member == member), None)


def resolve_comparisons(pairs: Sequence[Sequence[str]], methods: Sequence[Method], largest_member: str
                        ) -> list[tuple[str, str]]:
    """[method, baseline] pairs of method names, `largest` standing for `single` on `largest_member`;
    a pair that names a method no benchmark runs, or one method twice, is an error naming it."""
    run, largest = {m.label for m in methods}, alone(methods, largest_member) or f"single on {largest_member}"
    resolved = []
    for pair in pairs:
        names = tuple(largest if name == LARGEST else name for name in pair)
        missing = [name for name in names if name not in run]
        if missing:
            raise ValueError(f"evaluation.comparisons pair {list(pair)}: {missing} not among the methods evaluation "
                             f"runs {sorted(run)}")
        if names[0] == names[1]:
            raise ValueError(f"evaluation.comparisons pair {list(pair)} compares {names[0]!r} with itself")
        resolved.append(names)
    return resolved
