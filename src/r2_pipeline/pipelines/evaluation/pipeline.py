"""Wiring of `evaluation`: every method, including each trained router named in ROUTERS."""

from kedro.pipeline import Node, Pipeline

from ..rl_refinement import final_models, round_names
from .nodes import compare_methods, evaluate_methods, log_runs, plot_accuracy_cost, summarize

# method name -> (decomposer folder, allocator folder); the order matches `evaluation.routers`.
ROUTERS = {
    "r2_sft": ("decomposer_sft_model", "allocator_sft_model"),
    **{f"r2_{name}": (f"{name}.decomposer", f"{name}.allocator") for name in round_names()},
    "r2": final_models(),
}


def create_pipeline(routers: dict[str, tuple[str, str]] | None = None, **kwargs) -> Pipeline:
    routers = ROUTERS if routers is None else routers
    folders = [name for pair in routers.values() for name in pair]
    return Pipeline(
        [
            Node(
                evaluate_methods,
                ["world_test", "pool_manifest", "params:pool", "params:evaluation", "member_outcomes", *folders],
                ["evaluation_results", "evaluation_steps"],
                name="evaluate_methods_node",
            ),
            Node(summarize, ["evaluation_results", "params:pool"], "metrics", name="summarize_node"),
            Node(compare_methods, ["evaluation_results", "params:pool", "params:evaluation"], "method_comparisons",
                 name="compare_methods_node"),
            Node(plot_accuracy_cost, ["metrics", "params:evaluation"], "accuracy_cost_plot",
                 name="plot_accuracy_cost_node"),
            Node(log_runs, ["metrics", "params:evaluation"], "mlflow_method_runs", name="log_runs_node"),
        ]
    )
