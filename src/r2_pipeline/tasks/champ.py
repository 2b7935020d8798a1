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
from r2_pipeline.tasks.grading import extract_math_answer, math_equal, same_text
from r2_pipeline.tasks.loading import package_file

WORD = re.compile(r"[A-Za-z]{2,}[.,;:]?")
ASIDE = re.compile(r"\s+\((?=[A-Za-z]{2,}|[a-z]\.[a-z]\.)[^()]*\)")  # prose: "(i.e., ...)", "(none of them)"
ASIDE_OPEN = re.compile(r"\((?:[A-Za-z]{2,}|[a-z]\.[a-z]\.)")  # '(i.e.,' '(for' left by a nested aside
CONJUNCTIONS = {"and", "or"}


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
        return extract_math_answer(text)

    def grade(self, prediction: Any, example: Example) -> float:
        golds = example.meta.get("golds") or [example.answer]
        return float(any(same_text(prediction, gold) if nested_aside(gold) or plain_notation(gold)
                         else math_equal(prediction, gold) for gold in golds))


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
        for variant in (alt, " ".join(head).rstrip(",")):
            if variant and variant not in variants:
                variants.append(variant)
    return variants + [latex_notation(v) for v in variants if plain_notation(v)]


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
