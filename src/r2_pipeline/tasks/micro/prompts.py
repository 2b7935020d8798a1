"""What a micro pool member sees and writes: one substituted step in a fixed-width format, and its
answer digit-reversed; a compound's answer writes its intermediate value first (`member_answer`)."""

from __future__ import annotations

import re

from ...pool.base import SamplingParams
from .plans import parse_subtask
from .world import WIDTH, Compound, Step

# tokens a member may write for one subtask: a compound's intermediate value, `=`, its result and
# the end token; a single step stops after WIDTH digits and the end token
ANSWER_TOKENS = 2 * WIDTH + 2
# a compound's prompt: two operations (`085+040-017=`); its answer is read after its last `=`
COMPOUND_PROMPT = re.compile(r"^\d+[-+*/]\d+[-+]\d+=")


def member_sampling(seed: int = 0) -> SamplingParams:
    """How a micro member is asked one subtask: its answer (a compound's working included) and an
    end token, drawn with `seed` where the member samples."""
    return SamplingParams(max_new_tokens=ANSWER_TOKENS, seed=seed)


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


def _digits(value: int, op: str) -> str:
    text = _pad(value)
    return text if op == "/" else text[::-1]


def member_answer(subtask: Step | Compound, working: bool = False) -> str:
    """The target text: least-significant digit first, but a division's most-significant first
    (a compound's order follows its first operation, as `parse_member_answer` reads it).

    With `working`, a compound's answer writes its first operation's value, then `=`, then the
    result (`085+040-017=` -> `521=801`), as a model works a two-step question within one call:
    the member pays for those tokens, and a tier that answers each operation answers the compound
    about as reliably as the two steps asked apart. Without it (conf/base), the result alone."""
    if isinstance(subtask, Compound):
        result = _digits(subtask.value, subtask.first.op)
        return f"{_digits(subtask.first.value, subtask.first.op)}={result}" if working else result
    return _digits(subtask.value, subtask.op)


def parse_member_answer(prompt: str, text: str) -> int | None:
    """Value of the digits a member's completion opens with; None when they are fewer than WIDTH.
    Every digit it wrote counts: `0961` to `480/005=` is 961, not 96 (and wrong), and `6901` to
    `016+080=` is 1096 (least-significant first), while `1110` is 111 (a leading zero).

    A compound's answer is the digits after its last `=` when it shows its working (`521=801` to
    `085+040-017=` is 108; the intermediate value is not graded), else the digits it opens with."""
    text = text.strip()
    if "=" in text and COMPOUND_PROMPT.match(prompt):
        text = text.rsplit("=", 1)[1].strip()
    digits = re.match(r"\d*", text).group(0)
    if len(digits) < WIDTH:
        return None
    op = prompt[WIDTH] if len(prompt) > WIDTH else "+"
    return int(digits if op == "/" else digits[::-1])


def parse_final_answer(text: str) -> int | None:
    """A final answer given as free text (the last integer in it)."""
    found = re.findall(r"-?\d+", text or "")
    return int(found[-1]) if found else None
