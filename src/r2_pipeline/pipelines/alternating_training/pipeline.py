"""Composition of the full chain: model_pool -> data_generation -> evaluation (training joins later)."""

from kedro.pipeline import Pipeline

from .. import data_generation, evaluation, model_pool


def create_pipeline(**kwargs) -> Pipeline:
    return model_pool.create_pipeline() + data_generation.create_pipeline() + evaluation.create_pipeline()
