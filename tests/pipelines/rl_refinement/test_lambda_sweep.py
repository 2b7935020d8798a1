"""The lambda sweep: one validated lambda per slot, read by the slot's phases and tagged on its runs."""

import copy
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader

from r2_pipeline.params import ParameterError, validate_params
from r2_pipeline.pipelines.rl_refinement import SWEEP_POINTS, nodes
from r2_pipeline.settings import CONFIG_LOADER_ARGS

CONF = Path(__file__).parents[3] / "conf"


def block(profile: str = "base") -> dict:
    """The profile's own rl_refinement file, its `${globals:...}` values resolved as Kedro resolves them."""
    args = {**CONFIG_LOADER_ARGS, "base_env": profile, "default_run_env": profile}
    return OmegaConfigLoader(conf_source=str(CONF), **args)["parameters"]["rl_refinement"]


@pytest.mark.parametrize("profile", ["base", "test", "paper"])
def test_every_profile_sweeps_sweep_points_lambdas(profile):
    validate_params({"rl_refinement": block(profile)})
    assert len(block(profile)["lambda_sweep"]) == SWEEP_POINTS


def test_base_sweeps_around_the_main_lambda():
    assert block()["cost_lambda"] == 0.5 and block()["lambda_sweep"] == [0.2, 1.0]


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        (None, r"rl_refinement\.lambda_sweep = None: lambda_sweep is missing: lambda_sweep must list SWEEP_POINTS = 2"),
        ([0.2], r"rl_refinement\.lambda_sweep = \[0\.2\]: lambda_sweep must list SWEEP_POINTS = 2 distinct lambdas"),
        ([0.2, 1.0, 2.0], r"must list SWEEP_POINTS = 2 distinct lambdas.*set in pipelines/rl_refinement/rounds\.py"),
        ([0.2, 0.2], r"rl_refinement\.lambda_sweep = \[0\.2, 0\.2\]: lambda_sweep must list SWEEP_POINTS = 2 distinct"),
        ([0.5, 1.0], r"none equal to cost_lambda 0\.5"),
        ([-0.1, 1.0], r"rl_refinement\.lambda_sweep\.0 = -0\.1"),
    ],
)
def test_a_bad_sweep_names_the_key_and_sweep_points(sweep, message):
    params = copy.deepcopy(block())
    if sweep is None:
        params.pop("lambda_sweep")
    else:
        params["lambda_sweep"] = sweep
    with pytest.raises(ParameterError, match=message):
        validate_params({"rl_refinement": params})


def test_each_slot_reads_its_own_lambda():
    params = {"cost_lambda": 0.5, "lambda_sweep": [0.2, 1.0], "rewards": ["cost"]}
    assert [nodes.at_lambda(params, i)["cost_lambda"] for i in (0, 1, 2)] == [0.5, 0.2, 1.0]
    assert params["cost_lambda"] == 0.5  # the block itself is left as it is
    with pytest.raises(ValueError, match=r"sweep slot 3 has no lambda: rl_refinement\.lambda_sweep is \[0\.2, 1\.0\]"):
        nodes.at_lambda(params, 3)


def test_a_phase_trains_at_its_slots_lambda(monkeypatch):
    seen = []
    monkeypatch.setattr(nodes, "make_rewards", lambda names, env, lam: seen.append(lam) or [])
    monkeypatch.setattr(nodes, "grpo_train", lambda *a: (None, None, []))
    settings = {"trainer": {"per_device_train_batch_size": 2, "num_generations": 2}, "seed": 0}
    params = {"cost_lambda": 0.5, "lambda_sweep": [0.2, 1.0], "rewards": ["cost"]}
    for index in (0, 2):
        nodes._train("model", ["p"], settings, None, nodes.at_lambda(params, index))
    assert seen == [0.5, 1.0]


def test_curve_runs_are_tagged_with_the_slots_lambda(monkeypatch):
    logged = []
    monkeypatch.setattr(nodes, "log_curves", lambda name, rows, tags: logged.append((name, tags)) or "run")
    curves = pd.DataFrame({"step": [1, 2], "reward": [0.1, 0.4]})
    params = {"cost_lambda": 0.5, "lambda_sweep": [0.2, 1.0]}
    tags = {"round": "round_2", "phase": "allocator", "sweep": "sweep_2"}
    summary = nodes.log_phase_curves(curves, params, "sweep_2.round_2.allocator", tags, lambda_index=2)
    assert logged == [("sweep_2.round_2.allocator", {**tags, "cost_lambda": "1.0"})]
    assert summary == {"run_id": "run", "cost_lambda": 1.0, "first_reward": 0.1, "last_reward": 0.4}
