"""The micro world: seeded multi-step arithmetic word problems (`world`), their plans (`plans`), what a
pool member sees (`prompts`) and the benchmark over the generated splits (`micro.task`, imported apart: it needs the benchmark registry)."""

from ..plan_text import REF, format_decomposition, parse_decomposition, substitute
from .plans import (
    EXPR,
    askable,
    chain_steps,
    cite_quantities,
    evaluate_subtasks,
    filled_subtasks,
    merge_groupings,
    parse_compound,
    parse_expression,
    parse_subtask,
    plan_from_groups,
    quantities,
    resolve_quantities,
    tag_quantities,
)
from .prompts import (
    ANSWER_TOKENS,
    member_answer,
    member_operands,
    member_prompt,
    member_sampling,
    parse_final_answer,
    parse_member_answer,
)
from .world import (
    ALL_BUCKETS,
    BUCKET_NAMES,
    BUCKETS,
    COMPOUND_BUCKETS,
    MAX_VALUE,
    OPS,
    WIDTH,
    Compound,
    Problem,
    Step,
    apply_op,
    bucket_ops,
    mergeable,
    reference_subtasks,
    sample_bucket_step,
    sample_compound,
    sample_problem,
    sample_step,
    sample_subtask,
    step_bucket,
)

__all__ = [
    "ANSWER_TOKENS", "ALL_BUCKETS", "COMPOUND_BUCKETS", "askable", "Compound", "chain_steps", "merge_groupings", "mergeable", "parse_compound",
    "parse_subtask", "plan_from_groups", "sample_compound", "sample_subtask",
    "BUCKETS", "BUCKET_NAMES", "EXPR", "MAX_VALUE", "OPS", "REF", "WIDTH", "Problem",
    "Step", "apply_op", "bucket_ops", "cite_quantities", "evaluate_subtasks", "filled_subtasks",
    "format_decomposition", "member_answer", "member_operands", "member_prompt", "member_sampling", "parse_decomposition",
    "parse_expression", "parse_final_answer", "parse_member_answer", "quantities", "reference_subtasks",
    "resolve_quantities", "sample_bucket_step", "sample_problem", "sample_step", "step_bucket", "substitute",
    "tag_quantities",
]
