"""Evaluation methods: each a typed spec (a `Method` subclass) that answers test questions with the
pool, registered by kind in METHOD_KINDS; `evaluation.methods` entries become methods in spec.py."""

from .base import Method, MethodResult, run_method
from .decoding import Decoding, RecheckSpec
from .registry import METHOD_KINDS
from .rows import evaluate, result_rows, step_rows
from .spec import (
           LARGEST,
           alone,
           benchmark_methods,
           expand_methods,
           parse_method,
           planned_methods,
           resolve_comparisons,
)

__all__ = ["LARGEST", "METHOD_KINDS", "Decoding", "Method", "MethodResult", "RecheckSpec", "alone",
           "benchmark_methods", "evaluate", "expand_methods", "parse_method", "planned_methods",
           "resolve_comparisons", "result_rows", "run_method", "step_rows"]
