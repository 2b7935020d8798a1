"""Project pipelines: one registry key per pipeline folder, `__default__` composed explicitly."""

from kedro.pipeline import Pipeline

from .pipelines import (
    allocator_sft,
    alternating_training,
    data_generation,
    decomposer_sft,
    estimate,
    evaluation,
    evaluation_baselines,
    model_pool,
    pretrained_backbone,
    rl_refinement,
)

PIPELINES = {
    "model_pool": model_pool.create_pipeline,
    "data_generation": data_generation.create_pipeline,
    "decomposer_sft": decomposer_sft.create_pipeline,
    "allocator_sft": allocator_sft.create_pipeline,
    "rl_refinement": rl_refinement.create_pipeline,
    "pretrained_backbone": pretrained_backbone.create_pipeline,
    "evaluation": evaluation.create_pipeline,
    "evaluation_baselines": evaluation_baselines.create_pipeline,
    "alternating_training": alternating_training.create_pipeline,
    "estimate": estimate.create_pipeline,
}


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {name: create() for name, create in PIPELINES.items()}
    pipelines["__default__"] = pipelines["alternating_training"]
    return pipelines
