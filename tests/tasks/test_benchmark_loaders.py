"""Each benchmark loads its offline copy, a local file and (with the hub faked) its hub dataset."""

from __future__ import annotations

import json

import pytest

from r2_pipeline.tasks import loading
from r2_pipeline.tasks.base import Example, get_task

# name -> (offline size, id of the first example, its gold answer)
OFFLINE = {
    "p3": (7, "Study_1:0", "def sol():\n    return ('h' + 'o') * 1000"),
    "scan": (8, "scan-0", None),
    "math": (6, "test/precalculus/807.json", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    "champ": (270, "P_Combinatorics_1", "239"),
    "csqa": (6, "1afa02df02c908a558b4036e80242fac", "A"),
    "musique": (5, "2hop__460946_294723", "Miquette Giraudy"),
    "gsm8k": (1319, "gsm8k-0", "18"),
    "mbpp": (6, "mbpp-11", None),
    "humaneval": (164, "HumanEval/0", None),
    "aime": (30, "AIME2025-I-1", "70"),
}


@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_offline_copy_loads(name):
    size, first_id, first_answer = OFFLINE[name]
    task = get_task(name)
    examples = task.load("offline")
    assert task.name == name
    assert len(examples) == size
    assert all(isinstance(e, Example) and e.question and e.answer for e in examples)
    assert len({e.id for e in examples}) == size
    assert examples[0].id == first_id
    if first_answer is not None:
        assert examples[0].answer == first_answer
    assert task.load("offline", limit=3) == examples[:3]


@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_prompt_asks_for_a_parseable_answer(name):
    task = get_task(name)
    example = task.load("offline", limit=1)[0]
    prompt = task.prompt(example)
    assert example.question in prompt or example.question.splitlines()[-1] in prompt
    assert any(marker in prompt for marker in ("Answer:", "\\boxed{}", "```python", "Actions:"))


def test_gsm8k_gold_is_the_number_after_the_marks():
    examples = get_task("gsm8k").load("offline")
    assert all(e.answer.lstrip("-").replace(".", "", 1).isdigit() for e in examples)
    assert examples[0].meta["solution"].endswith("#### 18")


def test_aime_numbers_each_paper():
    examples = get_task("aime").load("offline")
    assert [e.id for e in examples[14:16]] == ["AIME2025-I-15", "AIME2025-II-1"]
    # One 2025 answer is written as an angle, 336^\circ; its grader accepts 336.
    assert all(0 <= int(e.answer.removesuffix("^\\circ")) <= 999 for e in examples)


def test_csqa_question_lists_the_choices():
    example = get_task("csqa").load("offline", limit=1)[0]
    assert "\nA. bank\n" in example.question
    assert example.meta["choices"]["E"] == "new york"


def test_musique_question_carries_paragraphs_and_aliases():
    examples = get_task("musique").load("offline")
    assert "Miquette Giraudy (born 9 February 1953" in examples[0].question
    assert examples[0].question.endswith("Question: Who is the spouse of the Green performer?")
    assert examples[3].meta["aliases"] == ["AUD", "Australian dollars"]


def test_musique_loads_from_parquet(tmp_path):
    """Parquet list columns come back as arrays (the hub serves MuSiQue as parquet)."""
    import pandas as pd

    from r2_pipeline.tasks.loading import read_records, sample_file

    rows = read_records(sample_file("musique.jsonl"))
    pd.DataFrame(rows).to_parquet(tmp_path / "musique.parquet")
    examples = get_task("musique").load(str(tmp_path / "musique.parquet"))
    assert examples[3].meta["aliases"] == ["AUD", "Australian dollars"] and examples[0].meta["hops"] >= 2


def test_local_jsonl_file_uses_the_hub_schema(tmp_path):
    rows = [{"question": "What is 2+2?", "answer": "2+2=<<2+2=4>>4\n#### 4"}]
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (example,) = get_task("gsm8k").load(str(path))
    assert (example.question, example.answer) == ("What is 2+2?", "4")


def test_local_parquet_file(tmp_path):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "scan.parquet"
    pd.DataFrame([{"commands": "jump twice", "actions": "I_JUMP I_JUMP"}]).to_parquet(path)
    (example,) = get_task("scan").load(str(path))
    assert example.answer == "I_JUMP I_JUMP"


def test_scan_reads_the_repositorys_own_files(tmp_path):
    """The hub copy of SCAN is a loading script; the repository's .txt files need no `datasets`."""
    path = tmp_path / "tasks_test_simple.txt"
    path.write_text("IN: jump twice OUT: I_JUMP I_JUMP\n\nIN: turn left after walk OUT: I_WALK I_TURN_LEFT\n")
    task = get_task("scan")
    examples = task.load(str(path))
    assert [(e.question, e.answer) for e in examples] == [
        ("Command: jump twice", "I_JUMP I_JUMP"), ("Command: turn left after walk", "I_WALK I_TURN_LEFT")]
    assert len(task.load(str(path), limit=1)) == 1
    assert task.grade(task.parse("Actions: I_JUMP I_JUMP"), examples[0]) == 1.0
    path.write_text("jump twice -> I_JUMP I_JUMP\n")
    with pytest.raises(ValueError, match=r"tasks_test_simple\.txt:1: not a SCAN line"):
        task.load(str(path))
    with pytest.raises(FileNotFoundError, match="is not a file"):
        task.load(str(tmp_path / "missing.txt"))


HUB = {
    "gsm8k": ("openai/gsm8k", "main", "test"),
    "math": ("HuggingFaceH4/MATH-500", None, "test"),
    "csqa": ("tau/commonsense_qa", None, "validation"),
    "musique": ("dgslibisey/MuSiQue", None, "validation"),
    "scan": ("scan-tasks/scan-tasks", "simple", "test"),
    "mbpp": ("google-research-datasets/mbpp", "full", "test"),
    "humaneval": ("openai/openai_humaneval", None, "test"),
}


@pytest.mark.parametrize("name", sorted(HUB))
def test_default_source_reads_the_hub(name, monkeypatch):
    """The paper profile's code path, with `datasets.load_dataset` replaced by the offline rows."""
    task = get_task(name)
    rows = list(task.offline_rows())[:2]
    calls = []

    def fake_load_dataset(path, config=None, split=None):
        calls.append((path, config, split))
        return rows

    monkeypatch.setattr("datasets.load_dataset", fake_load_dataset)
    examples = task.load(split="test")
    assert calls == [HUB[name]]
    assert examples == task.load("offline", limit=2)


def test_aime_hub_reads_both_papers(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "datasets.load_dataset",
        lambda path, config=None, split=None: (
            calls.append(config) or [{"question": "q", "answer": "1"}]
        ),
    )
    examples = get_task("aime").load()
    assert calls == ["AIME2025-I", "AIME2025-II"]
    assert [e.id for e in examples] == ["AIME2025-I-1", "AIME2025-II-1"]


def test_other_hub_name_may_carry_its_config(monkeypatch):
    calls = []
    monkeypatch.setattr(
        "datasets.load_dataset",
        lambda path, config=None, split=None: calls.append((path, config, split)) or [],
    )
    assert get_task("scan").load("scan-tasks/scan-tasks:length", split="train") == []
    assert calls == [("scan-tasks/scan-tasks", "length", "train")]


def test_p3_without_a_source_says_where_to_get_it():
    with pytest.raises(FileNotFoundError, match="puzzles.json"):
        get_task("p3").load()


def test_champ_default_source_is_the_package():
    assert len(get_task("champ").load(limit=5)) == 5


def test_sample_files_ship_with_the_package():
    assert sorted(p.name for p in loading.SAMPLES.iterdir()) == [
        "csqa.jsonl",
        "math.jsonl",
        "mbpp.jsonl",
        "musique.jsonl",
        "p3.json",
        "scan.jsonl",
    ]


def test_reasoning_hooks_default_to_the_direct_prompt():
    task = get_task("gsm8k")
    example = task.load("offline", limit=1)[0]
    (step,) = task.reference_subtasks(example)
    assert task.subtask_prompt(example.question, [], step) == task.prompt(example)
    later = task.subtask_prompt(example.question, [("eggs left", "9")], "money made")
    assert "- eggs left -> 9" in later and task.instruction in later and later.startswith(task.preamble)
    assert task.parse_subtask(later, "so\nAnswer: 18") == "18"


def test_an_intermediate_step_may_answer_in_free_text():
    """A multiple-choice benchmark's middle step ("where are clean plates kept?") has no letter to
    give: its 'Answer:' line is kept; the direct prompt still takes only a letter."""
    task = get_task("csqa")
    question = "Question: Where would you put a plate after washing it?\nA. table\nB. cupboard"
    step = task.subtask_prompt(question, [], "Where are clean plates kept?")
    assert task.parse_subtask(step, "They are stored away.\nAnswer: a cupboard") == "a cupboard"
    assert task.parse_subtask(step, "Answer: B") == "B"
    assert task.parse_subtask(task.subtask_prompt(question, [], question), "Answer: a cupboard") is None
    # a routed plan's last step may name the choice instead of its letter: graded by the choice's text
    example = task.to_example({"id": "p", "question": "Where would you put a plate after washing it?",
                               "choices": {"label": ["A", "B"], "text": ["table", "cupboard"]}, "answerKey": "B"}, 0)
    graded = {reply: task.grade(task.parse_subtask(step, reply), example)
              for reply in ("Answer: a cupboard", "Answer: Cupboard.", "Answer: the table", "Answer: a shelf")}
    assert graded == {"Answer: a cupboard": 1.0, "Answer: Cupboard.": 1.0, "Answer: the table": 0.0,
                      "Answer: a shelf": 0.0}
    scan = get_task("scan")  # a step sees the benchmark's preamble (SCAN's grammar), as the reviewer does
    assert scan.preamble in scan.subtask_prompt("Command: jump twice", [], "Actions for: jump")
    assert scan.context("Command: jump twice").startswith(scan.preamble)


@pytest.mark.parametrize("source", ["p3_puzzles.json", "data/01_raw/missing.jsonl", "./rows", "/abs/rows",
                                    "data/paper/01_raw/set:x", "rows.parquet.gz"])
def test_a_missing_file_is_not_sent_to_the_hub(source, monkeypatch):
    monkeypatch.setattr(loading, "load_hub", lambda *a, **k: pytest.fail("went to the hub"))
    with pytest.raises(FileNotFoundError, match="looks like a file, and there is no such file"):
        loading.load_records(source, "test", hub=lambda split: [], offline=lambda: [])


@pytest.mark.parametrize("source", ["gsm8k", "openai/gsm8k", "openai/gsm8k:main", "DigitalLearningGmbH/MATH-lighteval"])
def test_hub_names_still_go_to_the_hub(source, monkeypatch):
    monkeypatch.setattr(loading, "load_hub", lambda name, split: [{"name": name, "split": split}])
    assert loading.load_records(source, "train", hub=lambda split: [], offline=lambda: []) == [
        {"name": source, "split": "train"}]


def test_a_home_relative_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "rows.jsonl").write_text('{"a": 1}\n')
    assert loading.load_records("~/rows.jsonl", "test", hub=lambda split: [], offline=lambda: []) == [{"a": 1}]
