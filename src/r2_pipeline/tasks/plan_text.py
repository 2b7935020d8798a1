"""Plans as text, for every task: numbered subtask lines, and `#k` references to earlier answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

REF = re.compile(r"#(\d+)")


def format_decomposition(subtasks: Sequence[str]) -> str:
    return "\n".join(f"{i}. {s}" for i, s in enumerate(subtasks, start=1))


def parse_decomposition(text: str) -> list[str] | None:
    """Numbered lines `k. expr` in order; None when the text is not a decomposition."""
    subtasks = []
    for k, line in enumerate([ln for ln in text.strip().splitlines() if ln.strip()], start=1):
        match = re.match(rf"^\s*{k}\.\s*(.+?)\s*$", line)
        if not match:
            return None
        subtasks.append(match.group(1))
    return subtasks or None


def substitute(subtask: str, answers: Sequence[Any]) -> str | None:
    """Replace `#k` by the answer of subtask k; None when it refers to a missing answer."""
    return fill_references(REF, subtask, answers)


def fill_references(pattern: re.Pattern, text: str, values: Sequence[Any]) -> str | None:
    """Replace each 1-based reference `pattern` matches by its value; None when one is missing."""
    missing = False

    def fill(match: re.Match) -> str:
        nonlocal missing
        k = int(match.group(1))
        if not 1 <= k <= len(values) or values[k - 1] is None:
            missing = True
            return match.group(0)
        return str(values[k - 1])

    filled = pattern.sub(fill, text)
    return None if missing else filled
