"""Wiring of `evaluation_baselines`: the methods that run before training (`single`) on every
benchmark, with the pool alone.

Not part of the chain: it needs only the pool, so the paper profile's baselines run against served
endpoints before any router is trained. Outputs live under the `baselines.` namespace (catalog), so
they never overwrite a full evaluation's.
"""

from kedro.pipeline import Node, Pipeline

from ..evaluation.nodes import evaluate_baselines, log_baseline_runs, plot_accuracy_cost, summarize


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(evaluate_baselines, ["pool_manifest", "params:pool", "params:evaluation"],
                 ["evaluation_results", "evaluation_steps"], name="evaluate_baselines_node"),
            Node(summarize, ["evaluation_results", "params:pool", "params:evaluation"], "metrics",
                 name="summarize_node"),
            Node(plot_accuracy_cost, ["metrics", "params:evaluation", "params:pool"], "accuracy_cost_plot",
                 name="plot_accuracy_cost_node"),
            Node(log_baseline_runs, ["metrics", "params:evaluation", "params:pool"], "mlflow_method_runs",
                 name="log_runs_node"),
        ],
        namespace="baselines",
        inputs={"pool_manifest"},
        parameters={"params:pool", "params:evaluation"},
    )
