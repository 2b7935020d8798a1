"""Wiring of `decomposer_sft`: TRL SFT of the decomposer on the data_generation targets."""

from kedro.pipeline import Node, Pipeline

from ..sft_nodes import fit_sft, log_sft_curves


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(fit_sft, ["decomposer_sft_data", "params:decomposer_sft"], ["decomposer_sft_model", "decomposer_sft_curves"], name="fit_decomposer_node"),
            Node(log_sft_curves, ["decomposer_sft_curves", "params:decomposer_sft"], "decomposer_sft_run", name="log_decomposer_curves_node"),
        ]
    )
