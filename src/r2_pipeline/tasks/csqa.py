"""CommonsenseQA: five-way multiple choice, graded on the choice letter. The hub hides test labels,
so split "test" reads validation. Offline copy: `samples/csqa.jsonl` in the hub schema.
"""

from __future__ import annotations

import re
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import normalize_answer
from r2_pipeline.tasks.loading import read_records, sample_file

# Letters match in capitals only, so "the answer is a bank" is not read as choice A; and an A
# followed by a lower-case word is the article ("Answer: A cupboard", "A person who runs ..."). B-E
# are no articles: "Answer: B cupboard" is choice B, named. After an explicit 'Answer:' a lower-case
# letter alone or closed by ')' or '.' is a choice too ("answer: b", "Answer: b) cupboard"), and so
# is a boxed letter.
ARTICLE = r"(?![ \t]+[a-z])"
# between the marker and the letter: 'option', 'choice', quotes, brackets, markup ('Answer: Option C',
# 'Answer: "C"', 'Answer: [C]', 'Answer: \\( B \\)')
LEAD = r"[\s*:=]*(?:(?i:option|choice)\s+)?[\"'\[$\\(]*\s*"
LETTER = r"\(?\b(?:([B-E])|(A)" + ARTICLE + r")\b"
# the marker states the letter: 'Answer: C', 'The answer is (C)'; 'Answer E is incorrect' or 'answer
# choice B is wrong' in an explanation names a choice without choosing it
MARKED = re.compile(r"(?i:answers?)\**\s*(?:(?i:is)\b|[:=])" + LEAD + LETTER)
LOWER = re.compile(r"(?i:answer)\**\s*(?:[:=]|(?i:is)\b)\s*\**\s*\(?([a-e])(?:\)|\.(?=\s|$)|[ \t]*(?:$|\n))",
                   re.MULTILINE)
BOXED = re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{\s*)?\(?([A-Ea-e])\b")
# a reply that opens with the letter ('B', '**B. library**', 'C because ...', 'B is the correct
# answer'); an A followed by a lower-case word is the article; a lower-case letter alone is a letter
ALONE = re.compile(r"^[\s*_]*\(?(?:([B-E])\b|(A)(?:\)?[.):]|" + ARTICLE + r")(?:\s|\*|$))")
ALONE_LOWER = re.compile(r"^[\s*_]*\(?([a-e])\)?[.)]?[\s*_]*$")


class CSQA(BenchmarkTask):
    name = "csqa"
    hub = "tau/commonsense_qa"
    split_map = {"test": "validation"}
    preamble = "Answer the multiple-choice question with common sense."
    instruction = "Reply with the letter of the best choice in the form 'Answer: <letter>'."
    # worked decompositions shown to the paper-profile teacher (written for this project)
    worked_decompositions = [
        ("Question: Where would you put a plate after washing it?\nA. table\nB. cupboard\nC. restaurant"
         "\nD. dishwasher\nE. floor",
         ["What is done with a clean plate to store it?", "Which choice is the place in #1?"]),
        ("Question: What do people feel after running a marathon?\nA. energetic\nB. bored\nC. tired"
         "\nD. cold\nE. hungry for more",
         ["What does running a marathon do to the body?", "Which feeling follows from #1?",
          "Which choice names #2?"]),
        ("Question: A fox was hungry and looked for food where?\nA. forest\nB. zoo\nC. desk\nD. ocean"
         "\nE. painting",
         ["Where do wild foxes live and hunt?", "Which choice is #1?"]),
    ]

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(sample_file("csqa.jsonl"))

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        choices = dict(zip(row["choices"]["label"], row["choices"]["text"], strict=True))
        listed = "\n".join(f"{label}. {text}" for label, text in choices.items())
        meta = {"choices": choices, "concept": row.get("question_concept"), "stem": row["question"]}
        question = f"Question: {row['question']}\n{listed}"
        return Example(str(row.get("id", f"csqa-{index}")), question, row["answerKey"], meta)

    def parse(self, text: str) -> str | None:
        """The last letter after 'Answer:' or in \\boxed{}, else a reply that opens with a letter, else
        None (the direct prompt asks for a letter; an intermediate step's free answer is
        `parse_subtask`'s)."""
        if not text:
            return None
        found = [(m.start(), m.group(1) or m.group(2)) for m in MARKED.finditer(text)]
        found += [(m.start(), m.group(1).upper()) for pattern in (LOWER, BOXED) for m in pattern.finditer(text)]
        if found:
            return max(found)[1]
        alone = ALONE.match(text) or ALONE_LOWER.match(text)
        return next(g for g in alone.groups() if g).upper() if alone else None

    def grade(self, prediction: Any, example: Example) -> float:
        """The answer key's letter, or the text of that choice: a routed plan's last step may name
        the choice ('Answer: bank', 'a bank') where the direct prompt asks for its letter."""
        if prediction is None:
            return 0.0
        text = str(prediction).strip()
        return float(text.upper() == example.answer or named_choice(text, example.meta.get("choices") or {})
                     == example.answer)


def named_choice(text: str, choices: dict[str, str]) -> str | None:
    """The label of the one choice whose text `text` is (up to case, articles and punctuation)."""
    said = normalize_answer(text)
    named = [label for label, choice in choices.items() if said and normalize_answer(choice) == said]
    return named[0] if len(named) == 1 else None


TASK = CSQA()
