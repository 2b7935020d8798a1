"""Project hooks: validate every parameter block before any node runs."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from .params import validate_params


class ValidateParamsHook:
    @hook_impl
    def after_context_created(self, context) -> None:
        validate_params(context.params)
