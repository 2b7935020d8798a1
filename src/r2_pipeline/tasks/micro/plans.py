"""Micro plans: numbered subtasks citing quantities (`$k`) and earlier answers (`#k`), parsed and
resolved to arithmetic expressions."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..plan_text import fill_references, substitute
from .world import Compound, Step, mergeable

QUANTITY_REF = re.compile(r"\$(\d+)")
LITERAL = re.compile(r"(?<![#$\d])\d+")
_TERM, _OP = r"(-?\d+|#\d+)", r"([-+*/x×÷])"
EXPR = re.compile(rf"^\s*{_TERM}\s*{_OP}\s*{_TERM}\s*$")
COMPOUND = re.compile(rf"^\s*\(\s*{_TERM}\s*{_OP}\s*{_TERM}\s*\)\s*{_OP}\s*{_TERM}\s*$")
OP_NAMES = {"x": "*", "×": "*", "÷": "/"}


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
    """One operation on two numbers (`12 + 5`); None for anything else."""
    match = EXPR.match(expr)
    if not match or "#" in expr:
        return None
    return Step(int(match.group(1)), OP_NAMES.get(match.group(2), match.group(2)), int(match.group(3)))


def parse_compound(expr: str) -> Compound | None:
    """Two operations as one subtask (`(12 + 5) - 3`); None for anything else."""
    match = COMPOUND.match(expr)
    if not match or "#" in expr:
        return None
    first = Step(int(match.group(1)), OP_NAMES.get(match.group(2), match.group(2)), int(match.group(3)))
    return Compound(first, OP_NAMES.get(match.group(4), match.group(4)), int(match.group(5)))


def parse_subtask(expr: str) -> Step | Compound | None:
    """A substituted subtask as the arithmetic it asks: one step, a compound, or None."""
    return parse_expression(expr) or parse_compound(expr)


def evaluate_subtasks(subtasks: Sequence[str]) -> list[int] | None:
    """Exact values of a decomposition's subtasks, or None if any subtask is not one valid
    operation or compound."""
    steps = filled_subtasks(subtasks)
    return None if steps is None else [value for _, value in steps]


def filled_subtasks(subtasks: Sequence[str]) -> list[tuple[str, int]] | None:
    """Each subtask with the exact earlier values substituted, and its own exact value; None if
    any subtask is not one valid operation or compound."""
    out: list[tuple[str, int]] = []
    for subtask in subtasks:
        filled = substitute(subtask, [value for _, value in out])
        step = parse_subtask(filled) if filled is not None else None
        if step is None:
            return None
        try:
            out.append((filled, step.value))
        except ValueError:
            return None
    return out


# ---------------------------------------------------------------- plans of one chain of steps

Grouping = tuple[tuple[int, ...], ...]


def plan_from_groups(steps: Sequence[Step], groups: Grouping) -> list[str]:
    """The plan that asks each group of consecutive steps as one subtask: a group of one is
    `a op b` (or `#k op b`), a group of two the compound `(a op b) op c`; group k reads group k-1's
    answer as `#k`."""
    plan = []
    for k, group in enumerate(groups):
        first = steps[group[0]]
        text = f"{first.left if k == 0 else f'#{k}'} {first.op} {first.right}"
        if len(group) == 2:
            second = steps[group[1]]
            text = f"({text}) {second.op} {second.right}"
        plan.append(text)
    return plan


def merge_groupings(steps: Sequence[Step]) -> list[Grouping]:
    """Every way to ask a chain: each step alone, or merged with the next where both are additive
    (`world.mergeable`); the all-single grouping first."""
    def from_(i: int) -> list[Grouping]:
        if i >= len(steps):
            return [()]
        out = [((i,), *rest) for rest in from_(i + 1)]
        if i + 1 < len(steps) and mergeable(steps[i], steps[i + 1]):
            out += [((i, i + 1), *rest) for rest in from_(i + 2)]
        return out

    return from_(0)


def chain_steps(subtasks: Sequence[str]) -> list[Step] | None:
    """The one-operation steps of a plan whose subtasks are all single operations (a reference
    plan); None when any subtask is not."""
    filled = filled_subtasks(subtasks)
    steps = [parse_expression(text) for text, _ in filled] if filled is not None else None
    return None if steps is None or None in steps else steps


def askable(subtasks: Sequence[str]) -> bool:
    """Every subtask is one operation or a compound of two additive ones (`world.mergeable`): what
    the micro world's members are taught to answer."""
    filled = filled_subtasks(subtasks)
    if filled is None:
        return False
    compounds = [parse_compound(text) for text, _ in filled]
    return all(c is None or mergeable(*c.steps) for c in compounds)
