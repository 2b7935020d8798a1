"""Grading helpers the benchmark modules share: answer extraction, math equivalence with
`math-verify`, SQuAD-style exact match and token F1, and test execution in the sandbox.
"""

from __future__ import annotations

import re
import string
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from r2_pipeline.sandbox import Limits, run_programs

# ---------------------------------------------------------------- extraction

FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
PY_LANGS = {"", "python", "py", "python3"}
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
ANSWER_LINE = re.compile(r"\b(?:final answer|answer)\b\**\s*(?:is\b|:|=)\s*(.+)", re.IGNORECASE)
# a line that opens with the marker ("Answer: 18", "**Final answer:** 18", "So the answer is 18")
ANSWER_OPENS_LINE = re.compile(
    r"^[^\w\n]*(?:(?:so|thus|therefore|hence)\b,?\s*)?(?:the\s+)?(?:final answer|answer)\b\**\s*(?:is\b|:|=)\s*(.+)",
    re.IGNORECASE | re.MULTILINE)


def extract_code(text: str | None, define: str | None = None) -> str | None:
    """The Python in a completion: the first fenced block that defines `define` (or any function
    when `define` is None; else the first block), or the whole text when it has no fences."""
    if not text or not text.strip():
        return None
    blocks = [body for lang, body in FENCE.findall(text) if lang.lower() in PY_LANGS]
    if not blocks:
        return text.strip("\n") if "```" not in text else None
    name = re.escape(define) if define else r"\w+"
    defining = [b for b in blocks if re.search(rf"^\s*def\s+{name}\s*\(", b, re.M)]
    blocks = defining or blocks
    return blocks[0].strip("\n") or None


def last_boxed(text: str | None) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    if not text:
        return None
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    open_at = text.find("{", start)
    if open_at < 0:
        return None
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1 : i].strip() or None
    return None


def answer_after_marker(text: str | None) -> str | None:
    """What follows the last 'Answer:' / 'final answer is' marker, up to the end of its line: the
    last line that opens with one, so a sign-off after it ('let me know if my answer is unclear')
    is not read as the answer; else the last marker anywhere ('So 9 eggs. Answer: 17')."""
    if not text:
        return None
    found = ANSWER_OPENS_LINE.findall(text) or ANSWER_LINE.findall(text)
    if not found:
        return None
    answer = found[-1].strip().rstrip(".").strip()
    return answer.strip("*").strip() or None


def last_number(text: str | None) -> str | None:
    """The last number written in the text (thousands separators dropped)."""
    found = NUMBER.findall(text or "")
    return found[-1].replace(",", "").rstrip(".") if found else None


def extract_math_answer(text: str | None) -> str | None:
    """\\boxed{} first (what the prompt asks for), then an answer marker, then the last number."""
    return last_boxed(text) or answer_after_marker(text) or last_number(text)


# ---------------------------------------------------------------- math equivalence

WORDS = re.compile(r"[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,})*\.?")
TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}")
MAX_MATH_CHARS = 400


def math_equal(prediction: Any, gold: Any) -> bool:
    """True when `prediction` is mathematically the gold answer (1/2 = 0.5 = \\frac{1}{2});
    word answers such as 'No' are compared as normalized text instead."""
    pred, ref = _clean_math(prediction), _clean_math(gold)
    if not pred or not ref:
        return False
    if WORDS.fullmatch(ref) or WORDS.fullmatch(pred) or len(pred) > MAX_MATH_CHARS:
        return normalize_answer(pred) == normalize_answer(ref)
    # math-verify said no (or could not parse): the same text still counts, but compared with its
    # symbols; normalize_answer drops punctuation, so '-18' would equal '18' and '1/2' '12'
    return _verify(ref, pred) or same_text(pred, ref)


def same_text(prediction: Any, gold: Any) -> bool:
    """The same answer text, up to spacing, case and LaTeX spacing commands; symbols count."""
    pred, ref = _clean_math(prediction), _clean_math(gold)
    return bool(pred) and _compact(pred) == _compact(ref)


def _compact(text: str) -> str:
    return re.sub(r"\s+|\\[,;!: ]|\\left|\\right", "", text).lower()


def _clean_math(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    text = TEXT_CMD.sub(r"\1", text).replace("\\$", "").replace("\\%", "%")
    return text.strip().strip("$").strip().rstrip(".")


def _verify(gold: str, pred: str) -> bool:
    from math_verify import parse, verify  # noqa: PLC0415  (sympy import is slow)

    # math-verify's timeouts use SIGALRM, which only the main thread may set.
    main = threading.current_thread() is threading.main_thread()
    parse_kw = {} if main else {"parsing_timeout": None}
    parsed_gold = parse(f"${gold}$", **parse_kw)
    parsed_pred = parse(f"${pred}$", **parse_kw)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred, **({} if main else {"timeout_seconds": None})))


# ---------------------------------------------------------------- text answers


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in str(text).lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str | None, gold: str) -> float:
    return float(prediction is not None and normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str | None, gold: str) -> float:
    pred_tokens = normalize_answer(prediction or "").split()
    gold_tokens = normalize_answer(gold).split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if not pred_tokens or not gold_tokens or common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_over(
    metric: Callable[[str | None, str], float], prediction: str | None, golds: Iterable[str]
) -> float:
    """The best score against any accepted gold answer (answer aliases)."""
    return max((metric(prediction, g) for g in golds), default=0.0)


# ---------------------------------------------------------------- executed tests


class SandboxGraded:
    """Mixin for tasks graded by running a program: subclasses build it with `program`."""

    limits = Limits(timeout_s=10.0, memory_mb=1024)

    def program(self, prediction: Any, example: Any) -> str | None:
        raise NotImplementedError

    def grade(self, prediction: Any, example: Any) -> float:
        return self.grade_many([prediction], [example])[0]

    def grade_many(
        self, predictions: Sequence[Any], examples: Sequence[Any], max_workers: int | None = None
    ) -> list[float]:
        """Run every gradable program in parallel; unparsable predictions score 0 without a run."""
        programs = [
            self.program(p, e) if p else None for p, e in zip(predictions, examples, strict=True)
        ]
        todo = [i for i, prog in enumerate(programs) if prog is not None]
        results = run_programs([programs[i] for i in todo], self.limits, max_workers)
        scores = [0.0] * len(programs)
        for i, result in zip(todo, results, strict=True):
            scores[i] = float(result.passed)
        return scores


def grade_all(
    task: Any, predictions: Sequence[Any], examples: Sequence[Any], max_workers: int | None = None
) -> list[float]:
    """Grade a whole batch, in parallel where the task executes code."""
    if hasattr(task, "grade_many"):
        return task.grade_many(predictions, examples, max_workers=max_workers)
    return [task.grade(p, e) for p, e in zip(predictions, examples, strict=True)]
