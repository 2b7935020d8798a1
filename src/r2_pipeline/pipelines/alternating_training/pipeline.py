"""Composition of the full chain: model_pool -> data_generation -> decomposer_sft -> allocator_sft
-> rl_refinement rounds -> evaluation. No nodes of its own."""

from kedro.pipeline import Pipeline

from .. import allocator_sft, data_generation, decomposer_sft, evaluation, model_pool, rl_refinement


def create_pipeline(**kwargs) -> Pipeline:
    return (
        model_pool.create_pipeline()
        + data_generation.create_pipeline()
        + decomposer_sft.create_pipeline()
        + allocator_sft.create_pipeline()
        + rl_refinement.create_pipeline()
        + evaluation.create_pipeline()
    )
