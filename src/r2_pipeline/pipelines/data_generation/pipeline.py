"""Wiring of `data_generation`."""

from kedro.pipeline import Node, Pipeline

from .nodes import generate_world


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                generate_world,
                "params:data_generation",
                ["world_train", "world_validation", "world_test"],
                name="generate_world_node",
            ),
        ]
    )
