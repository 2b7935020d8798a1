"""SCAN: translate a navigation command into its action sequence, graded on the exact sequence.
Offline copy: `samples/scan.jsonl` in the hub schema (`commands`, `actions`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from r2_pipeline.paths import from_root
from r2_pipeline.tasks.base import Example
from r2_pipeline.tasks.benchmark import BenchmarkTask
from r2_pipeline.tasks.loading import read_records, sample_file

ACTION = re.compile(r"\b(?:I_)?(WALK|RUN|JUMP|LOOK|TURN_LEFT|TURN_RIGHT)\b")
# any I_* name: one outside the grammar ('I_FLY') is kept, so the sequence is wrong, not shortened
PREFIXED = re.compile(r"\bI_([A-Z_]+)\b")
FENCE = re.compile(r"^\s*```[\w+-]*\s*$")  # a bare fence line; '```I_JUMP```' keeps its actions
# the marker opens its line ('Actions: ...', '**Output actions:** ...'): 'Number of actions: 4' or
# 'These actions: turn left, walk' later in a reply are remarks
ACTIONS_LINE = re.compile(r"^[^\w]*(?:(?:output|final|the)\s+)?actions?\W*?:\W*?\s*(.*)", re.IGNORECASE)
LIST_MARK = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")
# A direct prompt comes with no training set, so it has to state the grammar's meaning.
GRAMMAR = """Translate the command into a sequence of actions.
Primitives: walk -> I_WALK, run -> I_RUN, jump -> I_JUMP, look -> I_LOOK,
turn left -> I_TURN_LEFT, turn right -> I_TURN_RIGHT.
"x left" / "x right": turn that way once, then do x.
"x opposite left": turn left twice, then do x ("turn opposite left" is just the two turns).
"x around left": four times (turn left, then x) ("turn around left" is four left turns).
"x twice" / "x thrice": repeat x two / three times.
"x and y": x then y.  "x after y": y then x."""


REPOSITORY_LINE = re.compile(r"^IN:\s*(.*?)\s+OUT:\s*(.*)$")


def repository_rows(path: Path) -> list[dict[str, str]]:
    """Rows in the hub schema from a SCAN repository file; a line of another shape is an error."""
    if not path.is_file():
        raise FileNotFoundError(f"SCAN source {str(path)!r} is not a file")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = REPOSITORY_LINE.match(line.strip())
        if not match:
            raise ValueError(f"{path}:{number}: not a SCAN line 'IN: <command> OUT: <actions>': {line[:80]!r}")
        rows.append({"commands": match.group(1), "actions": match.group(2)})
    return rows


class SCAN(BenchmarkTask):
    name = "scan"
    hub = "scan-tasks/scan-tasks"
    hub_config = "simple"
    preamble = GRAMMAR
    instruction = "Reply with the actions separated by spaces on one line: 'Actions: <actions>'."
    # worked decompositions shown to the paper-profile teacher (written for this project)
    worked_decompositions = [
        ("Command: jump twice and walk left",
         ["Actions for: jump twice", "Actions for: walk left", "Join #1 followed by #2."]),
        ("Command: run after look opposite right",
         ["Actions for: look opposite right", "Actions for: run", "Join #1 followed by #2."]),
        ("Command: turn around left thrice",
         ["Actions for: turn around left", "Repeat #1 three times."]),
    ]

    def offline_rows(self) -> list[dict[str, Any]]:
        return read_records(sample_file("scan.jsonl"))

    def records(self, source: str | None, split: str) -> list[dict[str, Any]]:
        """Also the SCAN repository's own files (`IN: <command> OUT: <actions>` lines, e.g.
        `simple_split/tasks_test_simple.txt` of github.com/brendenlake/SCAN): the hub copy is a
        loading script, which `datasets` 4 and later no longer run."""
        if source is not None and source.endswith(".txt"):
            return repository_rows(Path(from_root(source)))
        return super().records(source, split)

    def to_example(self, row: dict[str, Any], index: int) -> Example:
        return Example(f"scan-{index}", f"Command: {row['commands']}", row["actions"].strip())

    def parse(self, text: str) -> str | None:
        """Action tokens of the 'Actions:' line (or the line after a bare 'Actions:'; else the last
        line with I_* names, else the last line), normalized to I_* names; code fences are not
        lines. A line that uses I_* names is read for those only, so the words of a comment
        ('I_WALK I_WALK  # walk twice') are not actions, and an I_* name outside the grammar stays
        in, so it makes the sequence wrong."""
        lines = [line.replace("`", " ") for line in (text or "").splitlines()
                 if line.strip() and not FENCE.match(line)]
        marked = [(k, m.group(1)) for k, line in enumerate(lines) if (m := ACTIONS_LINE.match(line))]
        if marked:  # with the action lines that follow it (a sequence listed one action per line)
            k, line = marked[-1]
            following = " ".join(actions_run(lines[k + 1:]))
            if not line.strip():
                line = following or (lines[k + 1] if k + 1 < len(lines) else "")
            elif action_only(line):
                line = f"{line} {following}"
        else:  # the last line that writes I_* names (a closing remark after them is not the answer),
            # with the action lines just before it
            named = [k for k, line in enumerate(lines) if PREFIXED.search(line.upper())]
            if named and action_only(lines[named[-1]]):
                line = " ".join(reversed(actions_run(lines[named[-1]::-1])))
            else:
                line = lines[named[-1]] if named else lines[-1] if lines else ""
        pattern = PREFIXED if PREFIXED.search(line.upper()) else ACTION
        return " ".join(f"I_{t}" for t in pattern.findall(line.upper())) or None

    def grade(self, prediction: Any, example: Example) -> float:
        return float(prediction is not None and " ".join(str(prediction).split()) == example.answer)


def action_only(line: str) -> bool:
    """A line that writes actions and nothing else (a list marker and separators aside)."""
    words = re.findall(r"[A-Za-z_]+", LIST_MARK.sub("", line).upper())
    return bool(words) and all(PREFIXED.fullmatch(w) or ACTION.fullmatch(w) for w in words)


def actions_run(lines: list[str]) -> list[str]:
    """The leading lines of `lines` that are action-only."""
    run = []
    for line in lines:
        if not action_only(line):
            break
        run.append(LIST_MARK.sub("", line))
    return run


TASK = SCAN()
