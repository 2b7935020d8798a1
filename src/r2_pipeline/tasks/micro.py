"""The micro world: seeded multi-step arithmetic word problems with reference decompositions.

A question chains 2-6 operations on a running value; each step's difficulty bucket follows from its
operation and operand sizes. Pool members answer one substituted step in a fixed-width format.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

OPS = "+-*/"
BUCKETS = (1, 2, 3, 4, 5)
BUCKET_NAMES = {
    1: "1-digit, any op",
    2: "2-digit +/-",
    3: "2-digit x or / by 1 digit",
    4: "3-digit +/-",
    5: "3-digit x or / by 1 digit",
}
MAX_VALUE = 999
WIDTH = 3
REF = re.compile(r"#(\d+)")
QUANTITY_REF = re.compile(r"\$(\d+)")
LITERAL = re.compile(r"(?<![#$\d])\d+")
EXPR = re.compile(r"^\s*(-?\d+|#\d+)\s*([-+*/x×÷])\s*(-?\d+|#\d+)\s*$")


@dataclass(frozen=True)
class Step:
    left: int
    op: str
    right: int

    @property
    def value(self) -> int:
        return apply_op(self.left, self.op, self.right)

    @property
    def bucket(self) -> int:
        return step_bucket(self.left, self.op, self.right)


def apply_op(left: int, op: str, right: int) -> int:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "/":
        if right == 0 or left % right:
            raise ValueError(f"{left}/{right} is not an exact integer division")
        return left // right
    raise ValueError(f"unknown operation {op!r}")


def digits(value: int) -> int:
    return len(str(abs(value)))


def step_bucket(left: int, op: str, right: int) -> int:
    """Difficulty bucket 1-5 of one step, from its operation and the size of its operands."""
    size = max(digits(left), digits(right))
    if size == 1:
        return 1
    if op in "+-":
        return 2 if size == 2 else 4
    return 3 if size == 2 else 5


# ---------------------------------------------------------------- sampling


def _digit_range(n_digits: int) -> tuple[int, int]:
    return (1 if n_digits == 1 else 10 ** (n_digits - 1)), 10**n_digits - 1


SIZE = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3}


def bucket_ops(bucket: int) -> str:
    return OPS if bucket == 1 else "+-" if bucket in (2, 4) else "*/"


def _candidate(v: int, bucket: int, rng: random.Random, op: str | None = None) -> Step | None:
    """One random step from value v that lands in `bucket`, or None if this draw misses."""
    size = SIZE[bucket]
    if digits(v) > size:
        return None
    op = op or rng.choice(bucket_ops(bucket))
    if op == "/":
        divisors = [d for d in range(2, 10) if v % d == 0]
        if not divisors:
            return None
        right = rng.choice(divisors)
    elif op == "*" and digits(v) < size:
        right = rng.randint(*_digit_range(size))
    elif op == "*":
        right = rng.randint(2, 9)
    else:
        right = rng.randint(*_digit_range(size if digits(v) < size else rng.randint(1, size)))
    step = Step(v, op, right)
    if not 1 <= step.value <= MAX_VALUE or step.bucket != bucket:
        return None
    return step


def sample_step(
    v: int, bucket: int, rng: random.Random, max_result_digits: int = WIDTH, tries: int = 400
) -> Step | None:
    """A step from running value v in `bucket` whose result has at most `max_result_digits`."""
    for _ in range(tries):
        step = _candidate(v, bucket, rng)
        if step is not None and digits(step.value) <= max_result_digits:
            return step
    return None


def sample_bucket_step(bucket: int, rng: random.Random) -> Step:
    """A standalone step of one bucket (pool training and held-out evaluation).

    The operation is drawn first, so every operation of the bucket is equally common (rejection
    alone would favour `+`, whose draws are valid most often, and starve `-`).
    """
    size = SIZE[bucket]
    op = rng.choice(bucket_ops(bucket))
    while True:
        v = rng.randint(*_digit_range(rng.randint(1, size)))
        step = _candidate(v, bucket, rng, op)
        if step is not None:
            return step


# ---------------------------------------------------------------- wording

NAMES = ["Mia", "Omar", "Lena", "Ravi", "Ana", "Kofi", "Yuki", "Sam", "Ines", "Tom", "Zara", "Ivan"]
ITEMS = ["marbles", "apples", "coins", "stickers", "books", "shells", "cards", "pencils", "stamps"]
START = [
    "{name} has {n} {item}.",
    "{name} starts with {n} {item}.",
    "A box holds {n} {item}.",
    "There are {n} {item} on the table.",
    "{name} collected {n} {item}.",
    "At first, a shop has {n} {item}.",
]
STEP_TEMPLATES = {
    "+": [
        "Then {name} gets {n} more.",
        "Next, {n} more {item} are added.",
        "After that, {name} finds {n} extra {item}.",
        "A friend then gives {name} {n} more {item}.",
        "Later, {n} new {item} arrive.",
    ],
    "-": [
        "Then {name} gives away {n}.",
        "Next, {n} of the {item} are lost.",
        "After that, {n} {item} are sold.",
        "Later, {name} uses up {n} {item}.",
        "Then {n} {item} are taken away.",
    ],
    "*": [
        "Then the number of {item} is multiplied by {n}.",
        "Next, {name} ends up with {n} times as many {item}.",
        "After that, every {item_one} is swapped for {n} {item}.",
        "Later, the pile grows to {n} times its size.",
    ],
    "/": [
        "Then the {item} are shared equally among {n} friends and {name} keeps one share.",
        "Next, the {item} are split into {n} equal groups and only one group stays.",
        "After that, {name} keeps one out of every {n} equal parts.",
        "Later, the pile is divided by {n}.",
    ],
}
QUESTIONS = [
    "How many {item} are there now?",
    "How many {item} does {name} have at the end?",
    "What is the final number of {item}?",
    "How many {item} are left in the end?",
]


@dataclass(frozen=True)
class Problem:
    """A word problem, its gold answer, and its reference (teacher) decomposition."""

    question: str
    answer: int
    steps: tuple[Step, ...]

    @property
    def subtasks(self) -> list[str]:
        return reference_subtasks(self.steps)

    @property
    def buckets(self) -> list[int]:
        return [s.bucket for s in self.steps]


def reference_subtasks(steps: Sequence[Step]) -> list[str]:
    """Subtask k refers to the result of subtask k-1 as `#k-1`."""
    first = steps[0]
    out = [f"{first.left} {first.op} {first.right}"]
    out += [f"#{i} {s.op} {s.right}" for i, s in enumerate(steps[1:], start=1)]
    return out


def word_problem(steps: Sequence[Step], rng: random.Random) -> str:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    fill = {"name": name, "item": item, "item_one": item[:-1]}
    parts = [rng.choice(START).format(n=steps[0].left, **fill)]
    parts += [rng.choice(STEP_TEMPLATES[s.op]).format(n=s.right, **fill) for s in steps]
    parts.append(rng.choice(QUESTIONS).format(**fill))
    return " ".join(parts)


def sample_problem(
    rng: random.Random,
    min_steps: int,
    max_steps: int,
    bucket_weights: Sequence[float],
) -> Problem:
    """Buckets are planned first, then a chain is drawn that realises them step by step."""
    while True:
        n_steps = rng.randint(min_steps, max_steps)
        plan = rng.choices(BUCKETS, weights=bucket_weights, k=n_steps)
        steps = _realise(plan, rng)
        if steps is not None:
            return Problem(word_problem(steps, rng), steps[-1].value, tuple(steps))


def _realise(plan: Sequence[int], rng: random.Random) -> list[Step] | None:
    value = rng.randint(*_digit_range(rng.randint(1, SIZE[plan[0]])))
    steps: list[Step] = []
    for k, bucket in enumerate(plan):
        limit = SIZE[plan[k + 1]] if k + 1 < len(plan) else WIDTH
        step = sample_step(value, bucket, rng, max_result_digits=limit)
        if step is None:
            return None
        steps.append(step)
        value = step.value
    return steps


# ---------------------------------------------------------------- decompositions and subtasks


def format_decomposition(subtasks: Sequence[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(subtasks, start=1))


def parse_decomposition(text: str) -> list[str] | None:
    """Numbered lines `k. expr` in order; None when the text is not a decomposition."""
    subtasks = []
    for k, line in enumerate([ln for ln in text.strip().splitlines() if ln.strip()], start=1):
        match = re.match(rf"^\s*{k}\.\s*(.+?)\s*$", line)
        if not match:
            return None
        subtasks.append(match.group(1))
    return subtasks or None


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
    resolved = [_fill_references(QUANTITY_REF, subtask, numbers) for subtask in subtasks]
    return None if None in resolved else resolved


def substitute(subtask: str, answers: Sequence[int | None]) -> str | None:
    """Replace `#k` by the answer of subtask k; None when it refers to a missing answer."""
    return _fill_references(REF, subtask, answers)


def _fill_references(pattern: re.Pattern, text: str, values: Sequence[int | None]) -> str | None:
    """Replace each 1-based reference `pattern` matches by its value; None when one is missing."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        k = int(match.group(1))
        if not 1 <= k <= len(values) or values[k - 1] is None:
            missing = True
            return match.group(0)
        return str(values[k - 1])

    filled = pattern.sub(fill, text)
    return None if missing else filled


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


# ---------------------------------------------------------------- what a pool member sees


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
    operands in `member_operands` order."""
    step = parse_expression(expr)
    if step is None:
        return expr.replace(" ", "") + "="
    left, right = member_operands(step)
    return f"{_pad(left)}{step.op}{_pad(right)}="


def member_answer(step: Step) -> str:
    """The target text: least-significant digit first, but division most-significant first."""
    text = _pad(step.value)
    return text if step.op == "/" else text[::-1]


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
