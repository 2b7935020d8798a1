"""Wiring of `estimate`: one node, tagged so the endpoint preflight leaves it alone (it sends no
call, so the servers need not be up). Not part of the chain and not a DVC stage: run it with
`kedro run --pipelines estimate` before the runs it prices."""

from kedro.pipeline import Node, Pipeline

from ...pool.budget import NO_POOL_CALLS
from .nodes import estimate_calls


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(estimate_calls, ["params:pool", "params:evaluation", "params:data_generation",
                                  "params:rl_refinement", "params:estimate"],
                 "call_estimate", name="estimate_calls_node", tags=[NO_POOL_CALLS]),
        ]
    )
