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
ANSWER_LINE = re.compile(r"\b(?:final answer|answer)\b\**\s*(?:is\b\s*[:=]?|:|=)\s*(.+)", re.IGNORECASE)
# what a line says about the answer rather than stating it ('the answer is reasonable since ...')
REMARK = re.compile(r"(?:reasonable|correct|right|wrong|consistent|plausible|sensible|valid|confirmed|verified|"
                    r"based|supported|given|helpful|clear|unclear|as follows|below|above)\b", re.IGNORECASE)
# a line that opens with the marker ("Answer: 18", "**Final answer:** 18", "So the answer is 18")
ANSWER_OPENS_LINE = re.compile(
    r"^[^\w\n]*(?:(?:so|thus|therefore|hence)\b,?\s*)?(?:the\s+)?(?:final answer|answer)\b\**\s*(?:is\b\s*[:=]?|:|=)\s*(.+)",
    re.IGNORECASE | re.MULTILINE)


def extract_code(text: str | None, define: str | None = None) -> str | None:
    """The Python in a completion: the first fenced block that defines `define` (or any function
    when `define` is None; else the first block), or the whole text when it has no fences."""
    if not text or not text.strip():
        return None
    blocks = [body for lang, body in FENCE.findall(text) if lang.lower() in PY_LANGS]
    if not blocks:
        return code_span(text.strip("\n")) if "```" not in text else None
    name = re.escape(define) if define else r"\w+"
    defining = [b for b in blocks if re.search(rf"^\s*def\s+{name}\s*\(", b, re.M)]
    blocks = defining or blocks
    return blocks[0].strip("\n") or None


CODE_START = re.compile(r"(?:def|class|import|from|@)\b")
MAX_SPAN_LINES = 400


def code_span(text: str) -> str:
    """Unfenced code with prose around it ('Here is the function:', a closing remark): from the
    first line that opens a definition or an import to the last line with which it still compiles.
    Text that compiles, or in which no such span compiles (a bare function body), is kept whole."""
    if _compiles(text):
        return text
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if CODE_START.match(line)), None)
    if start is None or len(lines) > MAX_SPAN_LINES:
        return text
    for end in range(len(lines), start, -1):
        candidate = "\n".join(lines[start:end]).strip("\n")
        if _compiles(candidate):
            return candidate
    return text


def _compiles(source: str) -> bool:
    try:
        compile(source, "<completion>", "exec")  # parses only: nothing runs here
    except (SyntaxError, ValueError):
        return False
    return True


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
    """What follows the last 'Answer:' / 'final answer is' marker, up to the end of its line (see
    `last_marker`)."""
    found = last_marker(text)
    return found[1] if found else None


def last_marker(text: str | None) -> tuple[int, str] | None:
    """(where, what) of the answer marker that states the answer: the last line that opens with
    one, so a sign-off after it ('let me know if my answer is unclear') is not read as the answer;
    a later correction counts ('so the answer is 8'), a remark on the answer does not ('The answer
    is reasonable since 18 < 32', 'The answer is based on paragraphs [1] and [3]'); else the last
    marker anywhere ('So 9 eggs. Answer: 17')."""
    if not text:
        return None
    found = [m for m in ANSWER_OPENS_LINE.finditer(text) if not _remark(m)]
    found = found or [m for m in ANSWER_LINE.finditer(text) if not _remark(m)]
    if not found:
        return None
    answer = found[-1].group(1).strip().rstrip(".").strip().strip("*").strip()
    return (found[-1].start(), answer) if answer else None


def _remark(match: re.Match) -> bool:
    """'The answer is reasonable ...': a judgement after 'is'; after 'Answer:' a word is the answer."""
    marker = match.string[match.start(): match.start(1)]
    return bool(REMARK.match(match.group(1))) and not re.search(r"[:=]\s*$", marker)


def final_statement(text: str | None) -> str | None:
    """The answer the text ends on: its last \\boxed{} or its answer marker, whichever comes later
    (a reasoning model's 'let me check the answer: 16 - 7 = 9' comes before its final box)."""
    box_at = max((text or "").rfind("\\boxed"), (text or "").rfind("\\fbox"))
    marker = last_marker(text)
    if marker is not None and marker[0] > box_at:
        return marker[1]
    return last_boxed(text) or (marker[1] if marker else None)


# U+2212 is a minus wherever it stands; an en dash only where it opens a number after a marker
# ('Answer: – 10'), since '3 – 5' is a range
MINUS = re.compile(r"\u2212|(?:^|(?<=[:=(]))[ \t]*\u2013[ \t]?(?=[\d$.])", re.MULTILINE)


def ascii_minus(text: str | None) -> str | None:
    """Unicode minus signs (U+2212, and an en dash that opens a number: '– 10') as '-', so a
    negative answer keeps its sign; a range ('3–5') keeps its dash."""
    return MINUS.sub("-", text) if text else text


def last_number(text: str | None) -> str | None:
    """The last number written in the text (thousands separators dropped)."""
    found = NUMBER.findall(ascii_minus(text) or "")
    return found[-1].replace(",", "").rstrip(".") if found else None


def extract_math_answer(text: str | None) -> str | None:
    """\\boxed{} first (what the prompt asks for), then an answer marker, then the last number."""
    text = ascii_minus(text)
    return last_boxed(text) or answer_after_marker(text) or last_number(text)


# ---------------------------------------------------------------- math equivalence

WORDS = re.compile(r"[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,})*\.?")
TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm)\{([^{}]*)\}")
# a unit written after a number ('12\\text{ cm}^2', '15 \\text{people}'): MATH's own normalisation
# drops it, and unwrapped it would read as a product of letters
UNIT = re.compile(r"(?<=[\d}])\s*\\(?:text|mbox|mathrm)\{\s*[A-Za-z][A-Za-z .]*\}(?:\^\{?\d\}?)?\s*$")
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
    text = "" if value is None else ascii_minus(str(value).strip())
    text = TEXT_CMD.sub(r"\1", UNIT.sub("", text)).replace("\\$", "").replace("\\%", "%")
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
