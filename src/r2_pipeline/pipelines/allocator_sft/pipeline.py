"""Wiring of `allocator_sft`: TRL SFT of the allocator on the data_generation targets."""

from kedro.pipeline import Node, Pipeline

from ..sft_nodes import fit_sft, log_sft_curves


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(fit_sft, ["allocator_sft_data", "params:allocator_sft"], ["allocator_sft_model", "allocator_sft_curves"], name="fit_allocator_node"),
            Node(log_sft_curves, ["allocator_sft_curves", "params:allocator_sft"], "allocator_sft_run", name="log_allocator_curves_node"),
        ]
    )
