"""Wiring of `data_generation`."""

from kedro.pipeline import Node, Pipeline

from .nodes import (
    build_sft_datasets,
    generate_dev,
    generate_world,
    label_allocations,
    measure_member_outcomes,
    propose_decompositions,
    score_decompositions,
)

POOL = ["pool_manifest", "params:pool"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(generate_world, "params:data_generation", ["world_train", "world_validation", "world_test"],
                 name="generate_world_node"),
            Node(generate_dev, ["world_train", "world_validation", "world_test", "params:data_generation"], "world_dev",
                 name="generate_dev_node"),
            Node(propose_decompositions, ["world_train", "params:data_generation", *POOL], "decomposition_candidates",
                 name="propose_decompositions_node"),
            Node(score_decompositions, ["decomposition_candidates", "world_train", *POOL, "params:data_generation"],
                 "scored_decompositions", name="score_decompositions_node"),
            Node(label_allocations, ["scored_decompositions", "world_train", *POOL, "params:data_generation"],
                 ["step_outcomes", "allocation_labels", "allocation_search_stats"], name="label_allocations_node"),
            Node(build_sft_datasets, ["scored_decompositions", "allocation_labels", "world_train"],
                 ["decomposer_sft_data", "allocator_sft_data"], name="build_sft_datasets_node"),
            Node(measure_member_outcomes, ["world_train", *POOL], "member_outcomes",
                 name="measure_member_outcomes_node"),
        ]
    )
