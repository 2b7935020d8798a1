"""Wiring of `model_pool`."""

from kedro.pipeline import Node, Pipeline

from .nodes import measure_ladder, train_tiers, write_manifest


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(train_tiers, "params:model_pool", ["pool_models", "pool_training"], name="train_tiers_node"),
            Node(write_manifest, ["pool_models", "params:pool"], "pool_manifest", name="write_manifest_node"),
            Node(
                measure_ladder,
                ["pool_manifest", "params:pool", "params:model_pool"],
                ["pool_ladder", "ladder"],
                name="measure_ladder_node",
            ),
        ]
    )
