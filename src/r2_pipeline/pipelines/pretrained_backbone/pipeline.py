"""Wiring of `pretrained_backbone` (not part of alternating_training: the micro default is tiny)."""

from kedro.pipeline import Node, Pipeline

from .nodes import convert_smollm2


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [Node(convert_smollm2, "params:pretrained_backbone", "pretrained_backbone_model", name="convert_smollm2_node")]
    )
