"""The micro world's questions: steps in five difficulty buckets, sampled into word problems.

A question chains 2-6 operations on a running value; each step's difficulty bucket follows from its
operation and operand sizes. Two adjacent additions or subtractions can be asked as one compound
subtask (`(#1 + 14) - 3`), in buckets 6 and 7 of their own.
"""

from __future__ import annotations

import random
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
    6: "compound +/- then +/-, every number up to 2 digits",
    7: "compound +/- then +/-, a 3-digit number",
}
# the buckets of one operation (a question's steps), and of two merged into one subtask
COMPOUND_BUCKETS = (6, 7)
ALL_BUCKETS = BUCKETS + COMPOUND_BUCKETS
ADDITIVE = "+-"
MAX_VALUE = 999
WIDTH = 3


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

    @property
    def text(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class Compound:
    """Two operations as one subtask: `(first) op right`, where `first` is a whole step."""

    first: Step
    op: str
    right: int

    @property
    def value(self) -> int:
        return apply_op(self.first.value, self.op, self.right)

    @property
    def bucket(self) -> int:
        return compound_bucket(self.first, self.op, self.right)

    @property
    def steps(self) -> tuple[Step, Step]:
        return self.first, Step(self.first.value, self.op, self.right)

    @property
    def text(self) -> str:
        return f"({self.first.text}) {self.op} {self.right}"


def compound_bucket(first: Step, op: str, right: int) -> int:
    """6 when every number the compound reads or passes through (its three operands and the
    intermediate value) has at most two digits, else 7."""
    size = max(digits(first.left), digits(first.right), digits(first.value), digits(right))
    return 6 if size <= 2 else 7


def mergeable(first: Step, second: Step) -> bool:
    """Two adjacent steps may be asked as one compound subtask when both add or subtract and their
    buckets are a shape the pool is taught (`COMPOUND_PARTS`)."""
    if first.op not in ADDITIVE or second.op not in ADDITIVE:
        return False
    return (first.bucket, second.bucket) in COMPOUND_PARTS[compound_bucket(first, second.op, second.right)]


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


def sample_bucket_step(bucket: int, rng: random.Random, ops: str | None = None) -> Step:
    """A standalone step of one bucket (pool training and held-out evaluation).

    The operation is drawn first (from `ops`, default the bucket's), so every operation of the
    bucket is equally common (rejection alone would favour `+`, whose draws are valid most often,
    and starve `-`).
    """
    size = SIZE[bucket]
    op = rng.choice(ops or bucket_ops(bucket))
    while True:
        v = rng.randint(*_digit_range(rng.randint(1, size)))
        step = _candidate(v, bucket, rng, op)
        if step is not None:
            return step


# the buckets of a compound's two steps that the pool is taught, and that plans may merge
# (`mergeable`); a 3-digit step that falls below 100 (`150 - 80`, then `+ 5`) is never merged
COMPOUND_PARTS = {6: ((1, 1), (1, 2), (2, 1), (2, 2)), 7: ((4, 4), (2, 4), (1, 4))}


def sample_compound(bucket: int, rng: random.Random) -> Compound:
    """A standalone compound subtask of bucket 6 or 7: two additive steps, the second from the
    first's value (pool training and held-out evaluation)."""
    while True:
        first_bucket, second_bucket = rng.choice(COMPOUND_PARTS[bucket])
        first = sample_bucket_step(first_bucket, rng, ops=ADDITIVE)
        second = _candidate(first.value, second_bucket, rng, op=rng.choice(ADDITIVE))
        if second is not None and compound_bucket(first, second.op, second.right) == bucket:
            return Compound(first, second.op, second.right)


def sample_subtask(bucket: int, rng: random.Random) -> Step | Compound:
    """A standalone subtask of any bucket, one step or a compound."""
    return sample_compound(bucket, rng) if bucket in COMPOUND_BUCKETS else sample_bucket_step(bucket, rng)


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
