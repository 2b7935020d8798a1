"""r2_pipeline.analysis, what the studies share: decoding rules, the confidence cascade on a
hand-made frame, the splits a project wrote and the fresh questions drawn after its dev split; and
confidence_cascade's reading of the steps sent to the dearest member."""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from r2_pipeline.analysis import (
    Rule,
    cascade,
    choose,
    fresh_questions,
    parse_rules,
    parse_taus,
    rate_arguments,
    read_split,
)
from r2_pipeline.pipelines.data_generation.nodes import generate_dev, generate_world

WORLD = {"seed": 7, "sizes": {"train": 20, "validation": 3, "test": 5, "dev": 8}, "min_steps": 2, "max_steps": 4,
         "bucket_weights": [0.3, 0.25, 0.2, 0.15, 0.1]}


def ladder_frame():
    """Two questions on a three-member ladder: q1's one step only c answers (a and b are sure, and
    agree, on the same wrong value); q2's first step b answers unsure, its second step every member."""
    ladder = ["a", "b", "c"]
    steps = pd.DataFrame({
        "id": ["q1", "q2", "q2"],
        "a": [False, False, True], "b": [False, True, True], "c": [True, True, True],
        "a_cost": [1.0, 1.0, 1.0], "b_cost": [10.0, 10.0, 10.0], "c_cost": [100.0, 100.0, 100.0],
    })
    conf = pd.DataFrame({
        "a": [0.99, 0.2, 0.99], "b": [0.99, 0.4, 0.99], "c": [1.0, 1.0, 1.0],
        "a_value": [7, 1, 5], "b_value": [7, 3, 5], "c_value": [9, 3, 5],
    })
    return steps, conf, ladder


def test_cascade_readings_match_the_pipelines_climb():
    steps, conf, ladder = ladder_frame()
    choice = ["c", "a", "a"]
    # nothing unsure below 0.1: the allocator's choice stands, and a's wrong answer costs q2
    assert cascade(steps, conf, ladder, choice, 0.1, "climb") == (0.5, 102 / 300, 0.0)
    # at 0.5, q2's first step climbs a -> b (0.4, unsure) -> c: right, and every call paid
    acc, cost, again = cascade(steps, conf, ladder, choice, 0.5, "climb")
    assert (acc, cost, again) == (1.0, (100 + 1 + 10 + 100 + 1) / 300, 1 / 3)
    # agree: b's unsure 3 is not a's 1, so it climbs as before; `top` skips b
    assert cascade(steps, conf, ladder, choice, 0.5, "agree") == (1.0, 212 / 300, 1 / 3)
    assert cascade(steps, conf, ladder, choice, 0.5, "top")[1] == (100 + 1 + 100 + 1) / 300
    # had b given a's value, the two would agree and b's answer stand, c never asked
    conf.loc[1, "b_value"] = 1
    assert cascade(steps, conf, ladder, choice, 0.5, "agree") == (1.0, 112 / 300, 1 / 3)
    assert cascade(steps, conf, ladder, choice, 0.5, "climb")[1] == 212 / 300


def test_the_steps_sent_to_the_top_and_whether_the_rung_below_would_do():
    spec = importlib.util.spec_from_file_location("confidence_cascade", Path(__file__).parents[1] / "studies/confidence_cascade.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    steps, conf, ladder = ladder_frame()
    out = study.below_the_top(steps, conf, ladder, ["c", "a", "c"], [0.5, 0.995])
    # q1's step (a and b sure and agreeing on the wrong 7) and q2's second (both right, 5)
    assert out["steps"] == 2 and out["below_right"] == 0.5
    assert out["sure"] == [2, 0] and out["sure_right"][0] == 0.5 and math.isnan(out["sure_right"][1])
    assert out["agree"] == 2 and out["agree_right"] == 0.5


def test_rules_are_written_as_the_routers_rule_and_threshold():
    assert parse_rules("greedy,cheapest_likely:0.9,escalate:0.99") == [
        Rule(rule="greedy"), Rule(rule="cheapest_likely", min_success=0.9), Rule(rule="escalate", min_success=0.99)]
    assert [str(r) for r in parse_rules("greedy,escalate:0.99")] == ["greedy", "escalate:0.99"]
    for bad in ("0.9", "escalate=0.99", "escalate:1.5", "escalate:0", "cheapest_likely", "greedy:0.9", "best:0.9"):
        with pytest.raises(argparse.ArgumentTypeError, match="write greedy or <rule>:<p>"):
            parse_rules(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_taus("0.5,1.2")


def test_each_rule_reads_the_allocator_as_the_pipeline_does():
    ladder = ["a", "b", "c"]
    probs = [{"a": 0.5, "b": 0.45, "c": 0.05}, {"a": 0.2, "b": 0.3, "c": 0.5}]
    named = ["a", "b"]
    assert choose(Rule(rule="greedy"), probs, named, ladder) == ["a", "b"]
    # the cheapest member whose P(label <= m) reaches 0.9: b for the first step, c for the second
    assert choose(Rule(rule="cheapest_likely", min_success=0.9), probs, named, ladder) == ["b", "c"]
    # the named member when P(label <= it) reaches 0.5, else the dearest
    assert choose(Rule(rule="escalate", min_success=0.5), probs, named, ladder) == ["a", "b"]
    assert choose(Rule(rule="escalate", min_success=0.6), probs, named, ladder) == ["c", "c"]


def project(root: Path, world: dict, written: dict | None = None) -> Path:
    """conf/base says `world`; data/01_raw holds the splits of a run with `written` (default: `world`)."""
    (root / "conf/base").mkdir(parents=True)
    (root / "conf/base/parameters_data_generation.yml").write_text(yaml.safe_dump({"data_generation": {"world": world}}))
    (root / "conf/base/globals.yml").write_text(yaml.safe_dump({"paths": {"raw": "data/01_raw"}}))
    (root / "data/01_raw").mkdir(parents=True)
    params = {"world": written or world}
    splits = generate_world(params)
    for name, split in zip(("train", "validation", "test", "dev"), (*splits, generate_dev(*splits, params))):
        split.to_parquet(root / f"data/01_raw/world_{name}.parquet")
    return root


def test_fresh_questions_are_drawn_after_the_dev_split(tmp_path):
    # a run with more training questions than conf/base says: the dev split was drawn around them
    root = project(tmp_path, WORLD, written={**WORLD, "extra_train": 10})
    fresh = fresh_questions(root, 5)
    assert len(fresh) == 5
    drawn = set().union(*(set(read_split(root, s)["question"]) for s in ("train", "validation", "test", "dev")))
    assert not set(fresh["question"]) & drawn and len(drawn) == 30 + 3 + 5 + 8


def test_fresh_questions_refuse_a_dev_split_conf_base_does_not_draw(tmp_path):
    root = project(tmp_path, WORLD, written={**WORLD, "seed": 8})
    with pytest.raises(SystemExit, match="does not draw the dev split"):
        fresh_questions(root, 5)


def test_a_split_not_yet_written_names_the_pipeline(tmp_path):
    root = project(tmp_path, WORLD)
    (root / "data/01_raw/world_dev.parquet").unlink()
    with pytest.raises(SystemExit, match="world_dev.parquet is missing: run `kedro run --pipelines data_generation`"):
        read_split(root, "dev")


def test_the_rate_studies_share_their_options():
    parser = rate_arguments(argparse.ArgumentParser(), "train", 1000)
    args = parser.parse_args([])
    assert (args.split, args.questions, args.samples, args.lambdas) == ("train", 1000, 16, [0.2, 0.5, 1.0])
    assert parser.parse_args(["--lambdas", "0.5,2"]).lambdas == [0.5, 2.0]
    for bad in ("a,b", "-1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--lambdas", bad])

