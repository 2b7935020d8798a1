"""The base of the real benchmark modules: rows become Examples whose `question` is the whole
problem as the router sees it (choices, paragraphs, tests); the prompt adds the answer format.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.loading import load_hub, load_records, take

SUBTASK_PROMPT = """Problem:
{question}

Steps solved so far:
{steps}

Now solve only this step: {subtask}
{instruction}"""


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

    def load(
        self, source: str | None = None, split: str = "test", limit: int | None = None
    ) -> list[Example]:
        """`source`: None for the hub dataset, "offline" for the shipped copy, a file path, or
        another hub name (see `loading`)."""
        split = self.split_map.get(split, split)
        rows = load_records(source, split, hub=self.hub_rows, offline=self.offline_rows)
        return [self.to_example(row, i) for i, row in enumerate(take(rows, limit))]

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
        steps = "\n".join(f"- {step} -> {value}" for step, value in history) or "(none)"
        return SUBTASK_PROMPT.format(
            question=question, steps=steps, subtask=subtask, instruction=self.instruction
        )

    def parse_subtask(self, prompt: str, text: str) -> Any:
        return self.parse(text)

    def parse(self, text: str) -> Any:
        raise NotImplementedError
