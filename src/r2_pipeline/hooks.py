"""Project hooks: validate every parameter block before any node runs; check the pool's endpoints
before a run that calls the pool."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from .params import validate_params


class ValidateParamsHook:
    @hook_impl
    def after_context_created(self, context) -> None:
        validate_params(context.params)


class EndpointPreflightHook:
    """`kedro run --env paper` with a server down stops in seconds, naming the member and URL.

    Only pipelines that read `params:pool` are checked (an SFT-only run needs no endpoint), and
    a pool without `openai` members (the micro profile) costs nothing.
    """

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run for a pipeline that cannot start
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if not any(i == "params:pool" or i.startswith("params:pool.") for i in pipeline.inputs()):
            return
        from .pool.preflight import check_endpoints  # noqa: PLC0415  (checks nothing without openai members)

        check_endpoints(catalog.load("params:pool"))
