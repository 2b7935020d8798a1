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
from r2_pipeline.tasks.grading import extract_math_answer, math_equal
from r2_pipeline.tasks.loading import package_file

WORD = re.compile(r"[A-Za-z]{2,}[.,;:]?")
ASIDE = re.compile(r"\s+\([^()]*\s[^()]*\)")


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
        return float(any(math_equal(prediction, gold) for gold in golds))


def answer_variants(answer: str) -> list[str]:
    """CHAMP golds are free text ('98 values', 'x, or equivalently y', '0 (i.e., ...)'): accept
    each alternative and its leading math before the first word, besides the whole answer."""
    variants = [answer]
    for part in re.split(r",?\s+or equivalently\s+", answer):
        alt = ASIDE.sub("", part).strip()
        head = []
        for token in alt.split():
            if WORD.fullmatch(token):
                break
            head.append(token)
        for variant in (alt, " ".join(head).rstrip(",")):
            if variant and variant not in variants:
                variants.append(variant)
    return variants


TASK = CHAMP()
