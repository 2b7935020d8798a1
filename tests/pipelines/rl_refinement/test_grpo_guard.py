"""A GRPO phase with fewer distinct prompts than one generation batch takes trains nothing in TRL
(its sampler drops a smaller last chunk): the node refuses it before any model is loaded."""

import pytest

from r2_pipeline.pipelines.rl_refinement.nodes import _allocator_grpo, _train
from r2_pipeline.training.grpo import prompts_per_generation


def test_prompts_per_generation_follows_trl():
    assert prompts_per_generation({"per_device_train_batch_size": 16, "num_generations": 4}) == 4
    assert prompts_per_generation({"per_device_train_batch_size": 32, "num_generations": 4}) == 8
    assert prompts_per_generation({"per_device_train_batch_size": 4, "num_generations": 8,
                                   "gradient_accumulation_steps": 4}) == 2
    assert prompts_per_generation({"per_device_train_batch_size": 4, "num_generations": 8,
                                   "generation_batch_size": 32}) == 4


def test_too_few_prompts_stop_before_training():
    settings = {"trainer": {"per_device_train_batch_size": 32, "num_generations": 4}, "seed": 0}
    with pytest.raises(ValueError, match=r"5 distinct prompts, and one generation batch takes 8"):
        _allocator_grpo("no-model-needed", [f"p{i}" for i in range(5)], settings, None, {}, 1)
    with pytest.raises(ValueError, match=r"3 distinct prompts, and one generation batch takes 8"):
        _train("no-model-needed", ["a", "b", "c"], settings, None, {})
