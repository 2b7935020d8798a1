"""CHAMP competition math (270 problems), answers in \\boxed{}, graded with `math-verify` against
the gold and its variants. Not on the hub: `source=None` and "offline" both read the `champ-dataset`
package; a file or hub name may instead hold rows with `problem` and `answer` fields.
"""

from __future__ import annotations

import json
import re
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import (
    TEXT_CMD,
    answer_after_marker,
    last_boxed,
    last_number,
    math_equal,
    same_text,
)
from r2_pipeline.tasks.loading import package_file

WORD = re.compile(r"[A-Za-z]{2,}[.,;:]?")
ASIDE = re.compile(r"\s+\((?=[A-Za-z]{2,}|[a-z]\.[a-z]\.)[^()]*\)")  # prose: "(i.e., ...)", "(none of them)"
ASIDE_OPEN = re.compile(r"\((?:[A-Za-z]{2,}|[a-z]\.[a-z]\.)")  # '(i.e.,' '(for' left by a nested aside
CONJUNCTIONS = {"and", "or"}
PLUS_MINUS = re.compile(r"±|\\pm(?![A-Za-z])")
MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$([^$]+)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
# 'The limit exists and is equal to 1/2': the last verb that states a value, and the value after it
STATED = re.compile(r"^(?P<lead>.*)\b(?:is equal to|equals|is|are)\s+(?P<value>.+)$", re.I | re.S)
NOT_A_STATEMENT = re.compile(r"\b(?:not|no|never|yes)\b|n't", re.I)
VERDICT = re.compile(r"^(?:\\(?:boxed|text|textbf|mathrm)\{|[^A-Za-z\\])*(yes|no)\b", re.I)


class CHAMP(BenchmarkTask):
    name = "champ"
    preamble = "Solve the following problem."
    instruction = "Reason step by step and put the final answer in \\boxed{}."

    def hub_rows(self, split: str) -> list[dict[str, Any]]:
        return self.offline_rows()

    def offline_rows(self) -> list[dict[str, Any]]:
        path = package_file("champ_dataset", "dataset_files/v0.json", "champ-dataset")
        with open(path, encoding="utf-8") as f:
            return list(json.load(f)["problems"].values())

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        """Package rows mark math spans with `@@` in `_raw_*`; `_text`/`_answer` are plain."""
        question = row.get("_text") or row.get("problem") or row["_raw_text"].replace("@@", "")
        answer = row.get("_answer") or row.get("answer") or row["_raw_answer"].replace("@@", "")
        meta = {"category": row.get("category"), "golds": answer_variants(answer)}
        return Example(str(row.get("identifier", f"champ-{index}")), question, answer, meta)

    def parse(self, text: str) -> str | None:
        """\\boxed{} first, then an answer marker, then the last `$...$` span ('Hence $x = \\pm 1$.'
        is `x = \\pm 1`, where the last number would be `1`), then a reply that is one line of math
        as a whole (`\\frac{1}{2}`), then the last number."""
        return (last_boxed(text) or answer_after_marker(text) or opening_verdict(text) or last_math_span(text)
                or math_line(text) or last_number(text))

    def grade(self, prediction: Any, example: Example) -> float:
        """1.0 when any form of the prediction equals any gold variant, 0.0 otherwise (and when the
        prediction answers 'No' to a 'Yes' gold or the reverse, whatever math follows)."""
        if prediction is None or swaps_verdict(str(prediction), example.answer):
            return 0.0
        if bare_verdict(example.answer) and VERDICT.match(str(prediction).strip()):
            return 1.0  # 'No, there is no such n' to a gold 'No': the verdicts agree (swaps_verdict)
        golds = example.meta.get("golds") or answer_variants(example.answer)
        return float(any(_equal(form, gold) for form in answer_forms(str(prediction)) for gold in golds))


def _equal(prediction: str, gold: str) -> bool:
    prediction, gold = PLUS_MINUS.sub(r"\\pm ", prediction), PLUS_MINUS.sub(r"\\pm ", gold)
    if nested_aside(gold) or plain_notation(gold):
        return same_text(prediction, gold)
    return math_equal(prediction, gold)


def answer_forms(text: str) -> list[str]:
    """A prediction, the value it states ('The limit is $\\frac{1}{2}$' -> `\\frac{1}{2}`), and each
    with its ± written out (`expand_plus_minus`)."""
    forms = [text]
    if (value := stated_value(text)) and value not in forms:
        forms.append(value)
    return forms + [e for f in forms if (e := expand_plus_minus(f)) and e not in forms]


def last_math_span(text: str | None) -> str | None:
    """The inside of the last `$...$`, `$$...$$`, `\\(...\\)` or `\\[...\\]` in the text."""
    spans = MATH_SPAN.findall(text or "")
    return next((s.strip() for s in spans[-1] if s.strip()), None) if spans else None


def math_line(text: str | None) -> str | None:
    """The reply itself when it is one line with no prose word in it."""
    line = (text or "").strip().rstrip(".")
    return line if line and "\n" not in line and is_math(line) else None


def bare_verdict(gold: str) -> bool:
    """A gold that is Yes or No and nothing more."""
    return re.fullmatch(r"\W*(?:\\text\{)?\s*(yes|no)\W*", gold.strip(), re.I) is not None


def opening_verdict(text: str | None) -> str | None:
    """A one-line reply that opens with Yes or No ('No, because $n^2+1$ is odd'): the verdict is
    the answer, not the math that follows it. A longer reply says its answer in its box or on its
    answer line."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 and VERDICT.match(lines[0]) else None


def swaps_verdict(prediction: str, gold: str) -> bool:
    """The gold opens with Yes (No) and the prediction with No (Yes)."""
    said, meant = VERDICT.match(prediction.strip()), VERDICT.match(gold.strip())
    return bool(said and meant) and said.group(1).lower() != meant.group(1).lower()


def is_math(text: str) -> bool:
    """No prose word in the text ('and', 'the', '(i.e.,'), once `\\text{}` and `$` are set aside."""
    tokens = TEXT_CMD.sub(r" \1 ", text).replace("$", " ").split()
    return bool(tokens) and not any(WORD.fullmatch(t) or ASIDE_OPEN.match(t) for t in tokens)


def stated_value(text: str) -> str | None:
    """The math a sentence states something is: 'The limit exists and is equal to 1/2' -> '1/2',
    'The only possible value for the limit is sqrt(a)' -> 'sqrt(a)'. None when words lead to no
    verb, when the lead negates or opens with Yes/No ('The limit is not 2', 'Yes, and the
    sequence is ...'), or when prose follows ('0 is the only possible value')."""
    match = STATED.match(TEXT_CMD.sub(r"\1", text).strip().rstrip("."))
    if not match or not any(WORD.fullmatch(t) for t in match["lead"].replace("$", " ").split()):
        return None
    value = match["value"].strip()
    if NOT_A_STATEMENT.search(match["lead"]) or not is_math(value):
        return None
    return value.strip("$").strip() or None


def expand_plus_minus(text: str) -> str | None:
    """'a(1±sqrt(2)), a(1±sqrt(5))/2' -> 'a(1+sqrt(2)), a(1-sqrt(2)), a(1+sqrt(5))/2,
    a(1-sqrt(5))/2': math-verify reads ± (or \\pm) only outside brackets. None for prose, for text
    without ±, and for an item with two (whose signs may or may not go together)."""
    if not PLUS_MINUS.search(text) or not is_math(text):
        return None
    items = []
    for item in _top_level_items(text.strip().strip("$")):
        signs = len(PLUS_MINUS.findall(item))
        if signs > 1:
            return None
        items += [PLUS_MINUS.sub(sign, item, count=1) for sign in "+-"] if signs else [item]
    return ", ".join(items)


def _top_level_items(text: str) -> list[str]:
    """The comma-separated items of a list, commas inside brackets or braces left alone."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += 1 if char in "([{" else -1 if char in ")]}" else 0
        if char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    return [*items, text[start:].strip()]


def answer_variants(answer: str) -> list[str]:
    """CHAMP golds are free text ('98 values', 'x, or equivalently y', '0 (i.e., ...)'): accept
    each alternative and its leading math before the first word, besides the whole answer. Not
    when that word is 'and' or 'or' before more math: '376 and 625' asks for both, and '376'
    alone is not it."""
    variants = [answer]
    for part in re.split(r",?\s+or equivalently\s+", answer):
        alt = ASIDE.sub("", part).strip()
        tokens, head = alt.split(), []
        for k, token in enumerate(tokens):
            if WORD.fullmatch(token) or ASIDE_OPEN.match(token):
                # 'x and y' lists values (drop the head); '5/14, or approximately 35.7%' rephrases
                # (a conjunction left last had its second value taken for an aside)
                listed = token.strip(".,;:").lower() in CONJUNCTIONS and (
                    k + 1 == len(tokens) or not WORD.fullmatch(tokens[k + 1]))
                head = [] if listed else head
                break
            head.append(token)
        for variant in (alt, " ".join(head).rstrip(","), stated_value(alt)):
            if variant and variant not in variants:
                variants.append(variant)
    variants += [latex_notation(v) for v in variants if plain_notation(v)]
    return variants + [e for v in variants if (e := expand_plus_minus(v)) and e not in variants]


PLAIN_BIG = re.compile(r"\b(sum|prod)_\(")
PLAIN_ROUND = re.compile(r"\b(floor|ceil)\(")


def plain_notation(gold: str) -> bool:
    """CHAMP writes some golds in plain-text notation that math-verify misreads as a constant
    (`sum_(k=1)^n 1/k` as 1, `2^floor(n/2)*floor(n/2)!` as 2: a bare `1` or `2` was graded right
    and the LaTeX answer wrong). Such a gold is compared as text, and its `latex_notation` as math."""
    return bool(PLAIN_BIG.search(gold) or PLAIN_ROUND.search(gold))


def latex_notation(gold: str) -> str:
    """`sum_(a)^b` -> `\\sum_{a}^{b}`, `floor(x)` -> `\\lfloor x\\rfloor` (braced after `^`), the same
    for `prod` and `ceil`."""
    while match := PLAIN_ROUND.search(gold):
        inner, end = _balanced(gold, match.end() - 1)
        left, right = ("\\lfloor ", "\\rfloor") if match.group(1) == "floor" else ("\\lceil ", "\\rceil")
        text = f"{left}{inner}{right}"
        if gold[: match.start()].endswith("^"):
            text = "{" + text + "}"
        gold = gold[: match.start()] + text + gold[end:]
    while match := PLAIN_BIG.search(gold):
        lower, end = _balanced(gold, match.end() - 1)
        upper = ""
        if gold[end : end + 1] == "^":
            if gold[end + 1 : end + 2] == "(":
                upper, end = _balanced(gold, end + 1)
            else:
                token = re.match(r"\w+", gold[end + 1 :])
                upper, end = (token.group(0), end + 1 + token.end()) if token else ("", end + 1)
        gold = gold[: match.start()] + f"\\{match.group(1)}_{{{lower}}}" + (f"^{{{upper}}}" if upper else "") + gold[end:]
    return gold


def _balanced(text: str, open_at: int) -> tuple[str, int]:
    """The text inside the parenthesis at `open_at` and the index after its match (or the end)."""
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1 : i], i + 1
    return text[open_at + 1 :], len(text)


def nested_aside(gold: str) -> bool:
    """An aside ASIDE cannot remove (nested parentheses) is left in the gold as prose, which
    math-verify reads a number out of ('1' from '(i.e., 1 if n is odd, ...)')."""
    return any(ASIDE_OPEN.match(token) for token in ASIDE.sub("", gold).split())


TASK = CHAMP()
