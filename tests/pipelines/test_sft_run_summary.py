"""The SFT stages' run summary (`<model>_sft_run.json`) reads the loss off the trainer's curves."""

import json
import math

import pandas as pd

from r2_pipeline.pipelines.sft_nodes import final_loss


def test_final_loss_is_the_last_logged_step_loss_not_the_closing_summary_row():
    # as TRL logs them: step rows carry `loss`, the closing row carries `train_loss` and no `loss`
    curves = pd.DataFrame([{"loss": 3.0, "step": 25}, {"loss": 0.5, "step": 50},
                           {"train_loss": 1.2, "train_runtime": 9.0, "step": 50}])
    value = final_loss(curves)
    assert value == 0.5
    json.dumps({"final_loss": value}, allow_nan=False)  # the summary is strict JSON


def test_final_loss_without_step_losses_is_none():
    assert final_loss(pd.DataFrame([{"train_loss": 1.2, "step": 1}])) is None
    assert final_loss(pd.DataFrame([{"loss": math.nan, "step": 1}])) is None
    assert final_loss(pd.DataFrame()) is None
