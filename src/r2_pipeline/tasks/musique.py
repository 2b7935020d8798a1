"""MuSiQue-Ans multi-hop questions over paragraphs. `grade` returns token F1 (the benchmark's main
answer metric), the best over the answer and its aliases; `exact_match` scores EM the same way.
The hub hides test answers, so split "test" reads validation. Offline copy: `samples/musique.jsonl`.
"""

from __future__ import annotations

import re
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.grading import (
    TEXT_CMD,
    answer_after_marker,
    best_over,
    exact_match,
    last_boxed,
    token_f1,
)
from r2_pipeline.tasks.loading import read_records, sample_file

# citations of the numbered paragraphs after an answer: 'Paris [3]', '[1, 3]', '(paragraph 3)'
NUMBERS = r"\d+(?:\s*(?:[,;]|and)\s*\d+)*"
CITATION = re.compile(rf"(?:\s*(?:\[{NUMBERS}\]|\((?:paragraphs?|para\.?)\s*{NUMBERS}\)))+\s*\.?\s*$", re.IGNORECASE)


class MuSiQue(BenchmarkTask):
    name = "musique"
    hub = "dgslibisey/MuSiQue"
    split_map = {"test": "validation"}
    preamble = "Answer the question using the paragraphs; it may take several steps."
    instruction = (
        "Give a short answer (an entity, date or number) on the last line: 'Answer: <answer>'."
    )
    # worked decompositions shown to the paper-profile teacher (written for this project)
    worked_decompositions = [
        ("[1] Lake Tana: Lake Tana is the source of the Blue Nile.\n\n[2] Blue Nile: The Blue Nile "
         "flows into Sudan, where it meets the White Nile at Khartoum.\n\nQuestion: In which city does "
         "the river that starts at Lake Tana meet the White Nile?",
         ["Which river starts at Lake Tana?", "In which city does #1 meet the White Nile?"]),
        ("[1] The Hobbit: The Hobbit is a novel by J. R. R. Tolkien.\n\n[2] J. R. R. Tolkien: Tolkien "
         "was born in Bloemfontein.\n\n[3] Bloemfontein: Bloemfontein is a city in South Africa."
         "\n\nQuestion: In which country was the author of The Hobbit born?",
         ["Who wrote The Hobbit?", "Where was #1 born?", "In which country is #2?"]),
        ("[1] Apollo 11: Apollo 11 was commanded by Neil Armstrong.\n\n[2] Neil Armstrong: Armstrong "
         "studied at Purdue University.\n\nQuestion: Where did the commander of Apollo 11 study?",
         ["Who commanded Apollo 11?", "Where did #1 study?"]),
    ]

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(sample_file("musique.jsonl"))

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        paragraphs = "\n\n".join(
            f"[{i}] {p['title']}: {p['paragraph_text']}" for i, p in enumerate(row["paragraphs"], 1)
        )
        meta = {
            # list columns of a parquet file come back as arrays, whose truth value is an error
            "aliases": list(_listed(row.get("answer_aliases"))),
            "stem": row["question"],
            "hops": len(_listed(row.get("question_decomposition"))),
        }
        question = f"{paragraphs}\n\nQuestion: {row['question']}"
        return Example(str(row.get("id", f"musique-{index}")), question, row["answer"], meta)

    def parse(self, text: str) -> str | None:
        """The text after the last 'Answer:', else the last non-empty line; a \\boxed{} or \\text{}
        around it unwrapped, and the paragraph citations the prompt's numbered paragraphs invite
        ('Paris [3]', 'Paris (paragraph 3)') dropped: the answer is what F1 reads."""
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        answer = answer_after_marker(text) or (lines[-1] if lines else None)
        if answer is None:
            return None
        answer = last_boxed(answer) or answer
        answer = CITATION.sub("", TEXT_CMD.sub(r"\1", answer)).strip().rstrip(".").strip()
        return answer or None

    def golds(self, example: Example) -> list[str]:
        return [example.answer, *example.meta.get("aliases", [])]

    def grade(self, prediction: Any, example: Example) -> float:
        return best_over(token_f1, prediction, self.golds(example))

    def exact_match(self, prediction: Any, example: Example) -> float:
        return best_over(exact_match, prediction, self.golds(example))


def _listed(value: Any) -> Any:
    return [] if value is None else value


TASK = MuSiQue()
