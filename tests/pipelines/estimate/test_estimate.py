"""The estimate (pipelines/estimate, pool/estimate.py): the tally of calls, tokens and dollars, what
stands in for text not written yet, which members each method asks, the parameters, and the estimate
against the calls a run really makes."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from r2_pipeline.methods import parse_method
from r2_pipeline.params import ParameterError, validate_params
from r2_pipeline.pipelines.data_generation.nodes import generate_world
from r2_pipeline.pipelines.estimate import nodes
from r2_pipeline.pipelines.estimate.params import ESTIMATED_STAGES, EstimateParams
from r2_pipeline.pipelines.estimate.pipeline import create_pipeline
from r2_pipeline.pipelines.evaluation import nodes as evaluation_nodes
from r2_pipeline.pool.base import Completion, SamplingParams
from r2_pipeline.pool.budget import NO_POOL_CALLS
from r2_pipeline.pool.cache import CallCache, call_key
from r2_pipeline.pool.estimate import StandIn, Tally
from r2_pipeline.pool.pool import ModelPool
from r2_pipeline.pool.prices import PriceTable
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK, examples_row

CONF = Path(__file__).parents[3] / "conf"
PRICES = {f"t{k}": {"input_per_m": 1.0, "output_per_m": 2.0, "date": "d", "source": "s"} for k in range(1, 4)}
PRICES["router"] = {"input_per_m": 0.5, "output_per_m": 0.5, "date": "d", "source": "s"}
POOL = {"members": {m: {"backend": "transformers"} for m in ("t1", "t2", "t3")}, "prices": PRICES,
        "price_table": "test", "router_member": "router"}
WORLD = {"seed": 3, "sizes": {"train": 6, "validation": 1, "test": 5}, "min_steps": 2, "max_steps": 3,
         "bucket_weights": [1, 1, 0, 0, 0]}
ASSUMPTIONS = EstimateParams.model_validate({}).model_dump()["assumptions"]


def context(**assumptions) -> nodes.Context:
    data_generation = {"world": WORLD}
    world = dict(zip(("train", "validation", "test"), generate_world(data_generation)))
    return nodes.Context(POOL, {"benchmarks": {"micro": {}}, "methods": ["single"], "seeds": [0]},
                         data_generation, {**ASSUMPTIONS, **assumptions}, world)


def tally(cache=None, **backends) -> Tally:
    return Tally(PriceTable.from_config(PRICES), backends, cache)


# ----- the tally


def test_one_prompt_asked_twice_is_one_call_and_greedy_seeds_are_one():
    counted = tally(t1=StandIn())
    counted.add("s", "t1", ["abcdefgh", "abcdefgh", "abcd"], SamplingParams(max_new_tokens=5))
    counted.add("s", "t1", ["abcdefgh"], SamplingParams(max_new_tokens=5, seed=1))  # greedy: seed 0's call
    row = counted.table().iloc[0]
    assert (row["calls"], row["prompt_tokens"], row["completion_tokens"]) == (2, 3, 10)
    assert row["usd"] == pytest.approx((3 * 1.0 + 10 * 2.0) / 1e6)


def test_a_sampling_member_pays_each_seed():
    counted = tally(t1=StandIn(temperature=1.0))
    for seed in (0, 1, 2):
        counted.add("s", "t1", ["abcd"], SamplingParams(max_new_tokens=5, seed=seed))
    assert counted.table().iloc[0]["calls"] == 3


def test_answers_in_the_cache_are_counted_apart_and_free(tmp_path):
    cache = CallCache(tmp_path / "calls.sqlite")
    sampling = SamplingParams(max_new_tokens=5)
    cache.put_many("t1", [(call_key("fp", p, sampling), Completion("x", 1, 1)) for p in ("abcd", "wxyz")])
    counted = tally(cache, t1=StandIn(fingerprint="fp"))
    counted.add("s", "t1", ["abcd", "efgh"], sampling)
    counted.add("s", "t1", ["wxyz"], sampling, assumed=True)  # text stood in is never looked up
    rows = counted.table().set_index(["stage", "basis"])
    assert rows.loc[("s", "prompts"), ["calls", "cached", "prompt_tokens"]].tolist() == [1, 1, 1]
    assert rows.loc[("s", "assumed"), "calls"] == 1


def test_totals_sum_each_member_and_the_run():
    counted = tally(t1=StandIn(), t2=StandIn())
    counted.add("a", "t1", ["abcd"], SamplingParams(max_new_tokens=5))
    counted.add("b", "t1", ["efgh"], SamplingParams(max_new_tokens=5))
    counted.add("b", "t2", ["efgh", "ijkl"], SamplingParams(max_new_tokens=5))
    table = counted.table()
    total = table[table["stage"] == "total"].set_index("member")
    assert total.loc["t1", "calls"] == 2 and total.loc["t2", "calls"] == 2 and total.loc["total", "calls"] == 4
    assert total.loc["total", "usd"] == pytest.approx(table[table["stage"] != "total"]["usd"].sum())


@pytest.mark.parametrize("temperature, per_member, baseline", [(1.0, 3, 3), (None, 1, 2)])
def test_the_search_bound_counts_every_try_of_a_sampling_member(temperature, per_member, baseline):
    """With `allocation.tries: 3` every rung may be asked three times (the baseline's probe is its
    first try); a greedy member's tries are one call, as the pool answers them (the baseline's probe
    asks for log-probabilities, its later tries do not)."""
    ctx = SimpleNamespace(ladder=["t1", "t2", "t3"], data_generation={"allocation": {"baseline": "t2", "tries": 3}})
    counted = tally(**{m: StandIn(temperature=temperature) for m in ctx.ladder})
    nodes.grouped_search_calls(counted, "s", ctx, ["abcd", "efgh"], SamplingParams(max_new_tokens=4, seed=2000))
    calls = counted.table().query("stage == 's'").set_index("member")["calls"]
    assert calls.to_dict() == {"t1": 2 * per_member, "t2": 2 * baseline, "t3": 2 * per_member}


# ----- what stands in for text not written yet


def test_filler_is_labelled_and_as_long_as_asked():
    text = nodes.filler("r2 subtask 1", 120)
    assert text.startswith("[r2 subtask 1] ") and len(text) == 120
    assert nodes.filler("a long label that is longer", 5) == "[a long label that is longer] "


def test_assumed_plans_have_the_assumed_shape():
    example = examples_row({"id": "q", "question": "What?", "answer": 1, "subtasks": "[]"})
    steps = nodes.assumed_steps(example, "r2", {**ASSUMPTIONS, "subtasks_per_question": 4})
    assert len(steps) == 4 and [len(s.history) for s in steps] == [0, 1, 2, 3]
    assert all(len(s.subtask) == ASSUMPTIONS["subtask_chars"] and "[r2 subtask" in s.subtask for s in steps)


def test_reference_steps_carry_the_exact_earlier_values():
    ctx = context()
    task = TASK
    example = task.load(ctx.world["test"])[0]
    steps = nodes.reference_steps(task, example)
    assert [s.subtask for s in steps][0] == example.meta["subtasks"][0]
    assert [v for _, v in steps[-1].history] == [v for _, v in micro.filled_subtasks(example.meta["subtasks"])][:-1]


@pytest.mark.parametrize(
    ("count", "shares", "expected"),
    [
        (4, {"a": 1.0}, ["a"] * 4),
        (4, {"a": 0.5, "b": 0.5}, ["a", "a", "b", "b"]),
        (3, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, ["a", "b", "c"]),
        (5, {"a": 0.2, "b": 0.8}, ["a", "b", "b", "b", "b"]),
    ],
)
def test_picks_follow_the_shares(count, shares, expected):
    assert nodes.by_shares(count, shares) == expected


@pytest.mark.parametrize(
    ("entry", "allocation", "expected"),
    [
        ({"kind": "single", "member": "t2"}, "dearest", [["t2"], ["t2"], ["t2"]]),
        ("oracle", "dearest", [["t1", "t2", "t3"]] * 3),
        ("random", "dearest", [["t1"], ["t2"], ["t3"]]),
        ("r2", "dearest", [["t3"]] * 3),
        ("r2", "uniform", [["t1"], ["t2"], ["t3"]]),
        ("r2", {"t1": 2, "t2": 1}, [["t1"], ["t1"], ["t2"]]),
        ({"kind": "r2", "router": "r2", "recheck": {"tau": 0.9}}, "uniform", [["t1", "t2", "t3"], ["t2", "t3"], ["t3"]]),
    ],
)
def test_each_method_asks_the_members_it_may_ask(entry, allocation, expected):
    method = parse_method(entry, ["r2"]).resolve({"router": {}})
    assert nodes.members_per_step(method, context(allocation=allocation), 3) == expected


# ----- parameters


def test_every_stage_the_parameters_name_is_estimated():
    assert set(nodes.STAGES) == set(ESTIMATED_STAGES)


def base_params() -> dict:
    params = {}
    for path in (CONF / "base").glob("parameters_*.yml"):
        params.update(yaml.safe_load(path.read_text()))
    params["pool"]["cache_path"] = "data/cache/calls.sqlite"
    return params


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda e: e.update(pipelines=["model_pool"]), r"estimate\.pipelines\.0 = 'model_pool'"),
        (lambda e: e["assumptions"].update(subtasks_per_question=0), r"estimate\.assumptions\.subtasks_per_question"),
        (lambda e: e["assumptions"].update(allocation="cheapest"), r"estimate\.assumptions\.allocation"),
        (lambda e: e["assumptions"].update(allocation={"gpt_9": 1.0}),
         r"estimate\.assumptions\.allocation names 'gpt_9', not a pool member"),
    ],
)
def test_bad_estimate_parameters_are_refused_naming_the_key(edit, message):
    params = copy.deepcopy(base_params())
    edit(params["estimate"])
    with pytest.raises(ParameterError, match=message):
        validate_params(params)


# ----- the pipeline, and the estimate against a run


def test_the_pipeline_writes_the_table_and_is_left_alone_by_the_preflight():
    pipeline = create_pipeline()
    assert all(NO_POOL_CALLS in node.tags for node in pipeline.nodes)
    evaluation = {"benchmarks": {"micro": {}}, "methods": ["single", "r2"], "seeds": [0, 1],
                  "sampling": {"max_new_tokens": 4}, "router": {"fallback": "t3"}}
    data_generation = base_params()["data_generation"]
    data_generation["world"] = WORLD
    catalog = DataCatalog({"params:pool": MemoryDataset(POOL), "params:evaluation": MemoryDataset(evaluation),
                           "params:data_generation": MemoryDataset(data_generation),
                           "params:rl_refinement": MemoryDataset(None),
                           "params:estimate": MemoryDataset({"pipelines": ["evaluation"], "assumptions": ASSUMPTIONS}),
                           "call_estimate": MemoryDataset()})
    SequentialRunner().run(pipeline, catalog)
    table = catalog.load("call_estimate")
    rows = table[table["stage"] == "evaluation"].set_index(["member", "basis"])
    steps = sum(len(e.meta["subtasks"]) for e in TASK.load(generate_world({"world": WORLD})[2]))
    assert rows.loc[("t1", "prompts"), "calls"] == steps  # greedy members: one call for both seeds
    assert rows.loc[("router", "prompts"), "calls"] == WORLD["sizes"]["test"]  # one plan per question
    assert rows.loc[("router", "assumed"), "calls"] == steps  # a member name per step
    assert ("t3", "assumed") not in rows.index  # r2's steps on the dearest: single:t3's calls, cached


class Exact:
    """A micro member that answers every step right (so the run's later prompts are the estimate's)."""

    def __init__(self, name: str):
        self.fingerprint, self.calls = name, []

    def generate(self, prompts, sampling):
        self.calls += prompts
        return [Completion(micro.member_answer(micro.parse_subtask(_expression(p))), len(p), 4) for p in prompts]


def _expression(prompt: str) -> str:
    body = prompt.rstrip("=")
    parts = [body[:3], body[3], body[4:7]] + ([body[7], body[8:11]] if len(body) > 7 else [])
    text = f"{int(parts[0])} {parts[1]} {int(parts[2])}"
    return f"({text}) {parts[3]} {int(parts[4])}" if len(parts) > 3 else text


def test_the_estimate_counts_the_calls_evaluation_makes(monkeypatch, tmp_path):
    """`single` on every member under two seeds: the members the run builds are replaced by exact
    ones that count what they are asked, through the call cache as in a run."""
    members = {m: Exact(m) for m in POOL["members"]}
    pool = ModelPool(members, PriceTable.from_config(PRICES), CallCache(tmp_path / "calls.sqlite"))
    monkeypatch.setattr(evaluation_nodes, "pool_from_params", lambda manifest, params: pool)
    evaluation = {"benchmarks": {"micro": {}}, "methods": ["single"], "seeds": [0, 1],
                  "sampling": {"max_new_tokens": 4}, "experiment": "e"}
    test_split = generate_world({"world": WORLD})[2]
    evaluation_nodes.evaluate_methods(test_split, {}, POOL, evaluation, routers=[])
    table = nodes.estimate_calls(POOL, evaluation, {"world": WORLD, "teacher": {"kind": "reference"}}, None,
                                 {"pipelines": ["evaluation"]})
    estimated = table[table["stage"] == "evaluation"].set_index("member")["calls"]
    asked = {m: len(b.calls) for m, b in members.items()}
    assert asked == estimated.to_dict() and min(asked.values()) > 0


def test_rl_rollouts_are_counted_per_round_slot_and_phase():
    """Real benchmarks: each decomposer-phase rollout executes an assumed plan, each allocator-phase
    rollout asks one step and has it reviewed; every rollout its own call."""
    rl = {"rounds": 3, "lambda_sweep": [0.2, 1.0], "sampling": {"max_new_tokens": 8},
          "decomposer": {"questions": 5, "trainer": {"max_steps": 2, "per_device_train_batch_size": 4}},
          "allocator": {"questions": 5, "trainer": {"max_steps": 3, "per_device_train_batch_size": 2,
                                                    "gradient_accumulation_steps": 2}},
          "reviewer": {"member": "t1", "sampling": {"max_new_tokens": 2}}}
    data_generation = {"world": WORLD, "teacher": {"kind": "endpoint"}}
    table = nodes.estimate_calls(POOL, {}, data_generation, rl,
                                 {"pipelines": ["rl_refinement"], "assumptions": {"processes": 2}})
    calls = table[table["stage"] == "rl_refinement"].set_index("member")["calls"]
    runs = 3 * 3  # rounds x (r2 and two sweep slots)
    decomposer, allocator = 2 * 4 * 2, 3 * 2 * 2 * 2  # steps x batch (x accumulation) x processes
    assert calls["t3"] == runs * (decomposer * ASSUMPTIONS["subtasks_per_question"] + allocator)  # the dearest
    assert calls["t1"] == runs * allocator  # a review per allocator rollout
    assert calls["router"] == runs * decomposer * ASSUMPTIONS["subtasks_per_question"]  # the frozen allocator
