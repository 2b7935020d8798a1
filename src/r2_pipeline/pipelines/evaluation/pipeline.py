"""Wiring of `evaluation`: every method, with each trained router's two models (rl_refinement's
trained_routers) passed in as inputs; the final router then logged and registered as an MLflow model."""

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from ..rl_refinement import trained_routers
from ..rl_refinement.rounds import reading_round_models
from .nodes import (
    compare_methods,
    evaluate_methods,
    headroom_table,
    log_runs,
    package_router,
    plot_accuracy_cost,
    summarize,
)

SETTINGS = ["params:pool", "params:evaluation"]


def create_pipeline(routers: dict[str, tuple[str, str]] | None = None, **kwargs) -> Pipeline:
    """`routers`: method name -> (decomposer dataset, allocator dataset); default, every trained router."""
    routers = trained_routers() if routers is None else routers
    folders = [name for pair in routers.values() for name in pair]
    def bound(node_function):  # every node reads the methods against the same trained routers
        return update_wrapper(partial(node_function, routers=list(routers)), node_function)

    with reading_round_models():
        return Pipeline(
            [
                Node(bound(evaluate_methods), ["world_test", "pool_manifest", *SETTINGS, "member_outcomes",
                                           "params:data_generation", *folders],
                     ["evaluation_results", "evaluation_steps"], name="evaluate_methods_node"),
                Node(bound(summarize), ["evaluation_results", *SETTINGS], "metrics", name="summarize_node"),
                Node(bound(compare_methods), ["evaluation_results", *SETTINGS], "method_comparisons",
                     name="compare_methods_node"),
                Node(bound(headroom_table), ["evaluation_results", *SETTINGS, "params:rl_refinement"], "headroom",
                     name="headroom_table_node"),
                Node(bound(plot_accuracy_cost), ["metrics", "params:evaluation", "params:pool"], "accuracy_cost_plot",
                     name="plot_accuracy_cost_node"),
                Node(bound(log_runs), ["metrics", "params:evaluation", "params:pool"], "mlflow_method_runs",
                     name="log_runs_node"),
                *_router_model(routers, bound),
            ]
        )


def _router_model(routers: dict[str, tuple[str, str]], bound) -> list[Node]:
    """The final router (the last) logged and registered as an MLflow model; none without routers."""
    if not routers:
        return []
    return [Node(bound(package_router), ["metrics", "pool_manifest", *SETTINGS, *list(routers.values())[-1]],
                 "router_model", name="package_router_node")]
