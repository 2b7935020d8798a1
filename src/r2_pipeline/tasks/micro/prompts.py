"""What a micro pool member sees: one substituted step in a fixed-width, digit-reversed format."""

from __future__ import annotations

import re

from .plans import parse_subtask
from .world import WIDTH, Compound, Step


def _pad(value: int) -> str:
    return f"{value:0{WIDTH}d}" if value >= 0 else str(value)


def member_operands(step: Step) -> tuple[int, int]:
    """The operands in the order a member reads them: products put the larger factor first
    (`6 * 432` is asked as `432*006=`), one pattern to learn instead of two, the way a person
    would set it up on paper."""
    if step.op == "*" and step.right > step.left:
        return step.right, step.left
    return step.left, step.right


def member_prompt(expr: str) -> str:
    """`432 * 6` -> `432*006=`: fixed width, so every digit sits where the model expects it, the
    operands in `member_operands` order. A compound `(85 + 40) - 17` reads `085+040-017=`."""
    subtask = parse_subtask(expr)
    if subtask is None:
        return expr.replace(" ", "") + "="
    if isinstance(subtask, Compound):
        first = subtask.first
        return f"{_pad(first.left)}{first.op}{_pad(first.right)}{subtask.op}{_pad(subtask.right)}="
    left, right = member_operands(subtask)
    return f"{_pad(left)}{subtask.op}{_pad(right)}="


def member_answer(subtask: Step | Compound) -> str:
    """The target text: least-significant digit first, but a division's most-significant first
    (a compound's order follows its first operation, as `parse_member_answer` reads it)."""
    text = _pad(subtask.value)
    op = subtask.first.op if isinstance(subtask, Compound) else subtask.op
    return text if op == "/" else text[::-1]


def parse_member_answer(prompt: str, text: str) -> int | None:
    """Value of the digits a member's completion opens with; None when they are fewer than WIDTH.
    Every digit it wrote counts: `0961` to `480/005=` is 961, not 96 (and wrong), and `6901` to
    `016+080=` is 1096 (least-significant first), while `1110` is 111 (a leading zero)."""
    digits = re.match(r"\d*", text.strip()).group(0)
    if len(digits) < WIDTH:
        return None
    op = prompt[WIDTH] if len(prompt) > WIDTH else "+"
    return int(digits if op == "/" else digits[::-1])


def parse_final_answer(text: str) -> int | None:
    """A final answer given as free text (the last integer in it)."""
    found = re.findall(r"-?\d+", text or "")
    return int(found[-1]) if found else None
