"""Micro plans: numbered subtasks citing quantities (`$k`) and earlier answers (`#k`), parsed and
resolved to arithmetic expressions."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..plan_text import fill_references, substitute
from .world import Step

QUANTITY_REF = re.compile(r"\$(\d+)")
LITERAL = re.compile(r"(?<![#$\d])\d+")
EXPR = re.compile(r"^\s*(-?\d+|#\d+)\s*([-+*/x×÷])\s*(-?\d+|#\d+)\s*$")


def quantities(question: str) -> list[int]:
    """The question's numbers in reading order: `$k` in a plan is the k-th of them."""
    return [int(n) for n in re.findall(r"\d+", question)]


def tag_quantities(question: str) -> str:
    """The question with its k-th number written `$k=n`, as math-word-problem solvers tag
    quantities: the decomposer reads which citation names which number where it stands."""
    count = iter(range(1, 1000))
    return re.sub(r"\d+", lambda m: f"${next(count)}={m.group(0)}", question)


def cite_quantities(subtasks: Sequence[str], question: str) -> list[str]:
    """Write each literal number of a plan that is one of the question's quantities as `$k`.

    Numbers are matched in reading order to the next unused occurrence, so a repeated value cites
    the occurrence its step comes from. A number the question does not hold stays literal. Plans
    then cite the question's numbers the way they cite earlier answers (`#k`): a tiny decomposer
    decides the structure, the operations and which quantities, instead of copying digits."""
    numbers = [str(q) for q in quantities(question)]
    used = [False] * len(numbers)

    def cite(match: re.Match) -> str:
        for k, number in enumerate(numbers):
            if not used[k] and number == match.group(0):
                used[k] = True
                return f"${k + 1}"
        return match.group(0)

    return [LITERAL.sub(cite, subtask) for subtask in subtasks]


def resolve_quantities(subtasks: Sequence[str], question: str) -> list[str] | None:
    """Replace every `$k` by the question's k-th number; None when a citation is out of range."""
    numbers = quantities(question)
    resolved = [fill_references(QUANTITY_REF, subtask, numbers) for subtask in subtasks]
    return None if None in resolved else resolved


def parse_expression(expr: str) -> Step | None:
    match = EXPR.match(expr)
    if not match or "#" in expr:
        return None
    op = {"x": "*", "×": "*", "÷": "/"}.get(match.group(2), match.group(2))
    return Step(int(match.group(1)), op, int(match.group(3)))


def evaluate_subtasks(subtasks: Sequence[str]) -> list[int] | None:
    """Exact values of a decomposition's subtasks, or None if any step is not one valid operation."""
    steps = filled_subtasks(subtasks)
    return None if steps is None else [value for _, value in steps]


def filled_subtasks(subtasks: Sequence[str]) -> list[tuple[str, int]] | None:
    """Each subtask with the exact earlier values substituted, and its own exact value; None if
    any step is not one valid operation."""
    out: list[tuple[str, int]] = []
    for subtask in subtasks:
        filled = substitute(subtask, [value for _, value in out])
        step = parse_expression(filled) if filled is not None else None
        if step is None:
            return None
        try:
            out.append((filled, step.value))
        except ValueError:
            return None
    return out
