"""Parameter validation: bad values fail before any node runs, naming the key and the value."""

import copy
from pathlib import Path

import pytest
import yaml

from r2_pipeline.params import ParameterError, validate_params

BASE = Path(__file__).parents[1] / "conf" / "base"


def base_params() -> dict:
    params = {}
    for path in BASE.glob("parameters_*.yml"):
        params.update(yaml.safe_load(path.read_text()))
    params["pool"]["cache_path"] = "data/cache/calls.sqlite"  # the ${globals:} resolver is Kedro's
    return params


def test_base_parameters_are_valid():
    validated = validate_params(base_params())
    assert {"pool", "model_pool", "data_generation", "evaluation"} <= set(validated)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["pool"]["members"]["t1"].update(backend="carrier-pigeon"), r"pool\.members\.t1.*unknown backend 'carrier-pigeon'"),
        (lambda p: p["data_generation"]["world"]["sizes"].update(train=-5), r"data_generation\.world\.sizes\.train = -5"),
        (lambda p: p["data_generation"]["world"]["sizes"].update(test=0), r"data_generation\.world\.sizes\.test = 0"),
        (lambda p: p["pool"]["prices"].pop("t3"), r"members without a price: \['t3'\]"),
        (lambda p: p["model_pool"]["tiers"]["t2"].update(steps=0), r"model_pool\.tiers\.t2\.steps = 0"),
        (lambda p: p["data_generation"]["world"].update(min_steps=7), r"min_steps 7 > max_steps 6"),
        (lambda p: p["evaluation"].update(methods=[]), r"evaluation\.methods = \[\]"),
        (lambda p: p["pool"]["prices"]["t1"].update(output_per_m=-1), r"pool\.prices\.t1\.output_per_m = -1"),
        (lambda p: p["evaluation"].update(methods=["r3"]), r"unknown method 'r3'"),
        (lambda p: p["evaluation"]["router"].update(min_success=1.5), r"evaluation\.router\.min_success = 1\.5"),
        (lambda p: p["rl_refinement"].update(min_success=0), r"rl_refinement\.min_success = 0"),
        (lambda p: p["evaluation"].update(methods=["query_router@high"]), r"write query_router@<threshold>"),
        (lambda p: p["evaluation"].update(methods=["query_router@1.5"]), r"query_router@1\.5.*in \[0, 1\]"),
    ],
)
def test_bad_values_name_key_and_value(edit, message):
    params = copy.deepcopy(base_params())
    edit(params)
    with pytest.raises(ParameterError, match=message):
        validate_params(params)


def test_kedro_session_refuses_bad_parameters(tmp_path):
    """Through Kedro itself: the hook stops the run before any node."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = Path(__file__).parents[1]
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="test", runtime_params={"data_generation": {"world": {"sizes": {"train": -3}}}}) as session:
        with pytest.raises(ParameterError, match=r"sizes\.train = -3"):
            session.load_context()
