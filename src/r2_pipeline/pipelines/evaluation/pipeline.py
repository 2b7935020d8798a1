"""Wiring of `evaluation`."""

from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_methods, log_runs, plot_accuracy_cost, summarize


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                evaluate_methods,
                ["world_test", "pool_manifest", "params:pool", "params:evaluation"],
                ["evaluation_results", "evaluation_steps"],
                name="evaluate_methods_node",
            ),
            Node(summarize, ["evaluation_results", "params:pool"], "metrics", name="summarize_node"),
            Node(plot_accuracy_cost, "metrics", "accuracy_cost_plot", name="plot_accuracy_cost_node"),
            Node(
                log_runs,
                ["metrics", "params:evaluation"],
                "mlflow_method_runs",
                name="log_runs_node",
            ),
        ]
    )
