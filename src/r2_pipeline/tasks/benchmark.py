"""The base of the real benchmark modules: rows become Examples whose `question` is the whole
problem as the router sees it (choices, paragraphs, tests); the prompt adds the answer format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.grading import answer_after_marker
from r2_pipeline.tasks.loading import load_hub, load_records, take
from r2_pipeline.tasks.plan_text import format_decomposition, substitute

STEP_MARK = "Now solve only this step:"
SUBTASK_PROMPT = """{preamble}Problem:
{question}

Steps solved so far:
{steps}

""" + STEP_MARK + """ {subtask}
If this step asks for the problem's final answer: {instruction}
Otherwise give this step's answer on the last line: 'Answer: <answer>'."""

# What the router reads. The decomposer writes numbered subtasks; a subtask may use the answer of
# subtask k, written #k (the reasoner substitutes it before the subtask runs).
DECOMPOSE = """{question}

Subtasks (numbered, in order; a subtask may use the answer of subtask k as #k):
"""
ALLOCATE = """Problem:
{question}

Subtasks solved so far:
{steps}

Next subtask: {subtask}
Model:"""
# a numbered subtask line: '1. ...', '1) ...', and as chat models also write them, 'Step 1: ...',
# '**1.** ...', '- 1. ...'
NUMBERED = re.compile(r"^\s*(?:[-*]\s+)?[*_]*(?:step\s*)?(\d+)[*_]*\s*[.):][*_]*\s*(.+?)\s*$", re.IGNORECASE)
# how a member answers a benchmark subtask when the parameters say nothing (data generation, GRPO)
STEP_SAMPLING = {"max_new_tokens": 512}


def parse_plan(text: str) -> list[str] | None:
    """The numbered lines `1. ...`, `2. ...` of a model's text, in order from subtask 1; None when
    there is no subtask 1. Lines before it (a chat model's "Here are the subtasks:") and text after
    the list (a model that carries on) are ignored."""
    subtasks: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        match = NUMBERED.match(line)
        if match and int(match.group(1)) == len(subtasks) + 1:
            subtasks.append(match.group(2))
        elif subtasks:
            break
    return subtasks or None


def _steps(history: list[tuple[str, Any]]) -> str:
    return "\n".join(f"- {step} -> {value}" for step, value in history) or "(none)"


class BenchmarkTask:
    """Subclasses set the names and the two prompt parts and write `to_example`/`offline_rows`.

    `hub`/`hub_config` name the paper-profile dataset; `split_map` redirects splits whose gold
    answers the hub hides (CSQA and MuSiQue keep test labels private, so test reads validation).
    """

    name = ""
    hub = ""
    hub_config: str | None = None
    split_map: dict[str, str] = {}
    preamble = ""
    instruction = ""
    # (question, subtasks): the worked decompositions the paper-profile teacher is shown (few-shot)
    worked_decompositions: list[tuple[str, list[str]]] = []

    def load(
        self, source: str | None = None, split: str = "test", limit: int | None = None
    ) -> list[Example]:
        """`source`: None for the hub dataset, "offline" for the shipped copy, a file path, or
        another hub name (see `loading`)."""
        rows = self.records(source, self.split_map.get(split, split))
        return [self.to_example(row, i) for i, row in enumerate(take(rows, limit))]

    def records(self, source: str | None, split: str) -> list[dict[str, Any]]:
        """The benchmark's rows from `source` (see `load`), before `to_example`."""
        return load_records(source, split, hub=self.hub_rows, offline=self.offline_rows)

    def hub_rows(self, split: str) -> Iterable[dict[str, Any]]:
        return load_hub(self.hub, split, self.hub_config)

    def offline_rows(self) -> Iterable[dict[str, Any]]:
        raise NotImplementedError

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        raise NotImplementedError

    def prompt(self, example: Example) -> str:
        return self.format_prompt(example.question)

    def format_prompt(self, question: str) -> str:
        return "\n\n".join(part for part in (self.preamble, question, self.instruction) if part)

    # Hooks of the reasoning layer. A real benchmark has no teacher decomposition, so its
    # reference plan is one step, the whole question, and that step's prompt is the direct prompt.
    def reference_subtasks(self, example: Example) -> list[str]:
        return [example.question]

    def subtask_prompt(self, question: str, history: list[tuple[str, Any]], subtask: str) -> str:
        if not history and subtask.strip() == question.strip():
            return self.format_prompt(question)
        return SUBTASK_PROMPT.format(
            preamble=f"{self.preamble}\n\n" if self.preamble else "", question=question,
            steps=_steps(history), subtask=subtask, instruction=self.instruction,
        )

    def substitute(self, subtask: str, answers: list[Any]) -> str | None:
        """`#k` becomes subtask k's answer; None when that answer is missing."""
        return substitute(subtask, answers)

    def parse_subtask(self, prompt: str, text: str) -> Any:
        """The benchmark's own parse; an intermediate step's free answer ('Answer: cupboard' to a
        multiple-choice question) when that finds nothing."""
        value = self.parse(text)
        if value is None and STEP_MARK in prompt:
            return answer_after_marker(text)
        return value

    def context(self, question: str) -> str:
        """The question as a reviewer should read it: with the benchmark's preamble (SCAN's grammar)."""
        return f"{self.preamble}\n\n{question}" if self.preamble else question

    def parse(self, text: str) -> Any:
        raise NotImplementedError

    # The router's side: the same builders serve SFT data, GRPO rollouts and evaluation.
    def decomposer_prompt(self, question: str) -> str:
        return DECOMPOSE.format(question=question)

    def format_plan(self, subtasks: list[str], question: str | None = None) -> str:
        return format_decomposition(subtasks)

    def parse_plan(self, text: str, question: str | None = None) -> list[str] | None:
        return parse_plan(text)

    def allocator_prompt(self, question: str, history: list[tuple[str, Any]], subtask: str) -> str:
        return ALLOCATE.format(question=question, steps=_steps(history), subtask=subtask)
