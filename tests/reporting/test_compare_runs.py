"""`python -m r2_pipeline.reporting.compare_runs`: one method against another, each from its own
run's per-question table, paired by question id."""

import pandas as pd
import pytest

from r2_pipeline.reporting.compare_runs import compare


def results(method: str, correct: list[bool], cost: list[float], ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"benchmark": "micro", "method": method, "id": ids, "correct": correct, "cost_usd": cost})


def test_compare_runs_pairs_a_method_across_two_runs():
    run_a = results("r2", [True, True, False], [1.0, 1.0, 1.0], ["a", "b", "c"])
    run_b = results("r2", [False, True, False], [2.0, 2.0, 2.0], ["c", "a", "b"])
    row = compare("r2", "r2", run_a, run_b, resamples=50).iloc[0]
    # by id: a right in both, b right only in run A, c wrong in both
    assert (row["method_better"], row["baseline_better"]) == (1, 0) and row["cost_ratio"] == pytest.approx(0.5)
    with pytest.raises(SystemExit, match="no benchmark has both 'r2' .* and 'r2_sft'"):
        compare("r2", "r2_sft", run_a, run_b)


def test_runs_that_answered_other_questions_are_not_paired():
    run_a = results("r2", [True, True], [1.0, 1.0], ["a", "b"])
    run_b = results("r2", [True, True], [1.0, 1.0], ["a", "z"])
    with pytest.raises(SystemExit, match="answered different questions"):
        compare("r2", "r2", run_a, run_b)


@pytest.mark.parametrize("argv, message", [
    (["--confidence", "95"], "argument --confidence: 95: write a level in (0, 1), e.g. 0.95 for 95%"),
    (["--resamples", "0"], "argument --resamples: 0: must be at least 1"),
    (["--results", "{missing}"], "--results {missing}: no such file; the evaluation pipeline writes"),
    (["--results", "{text}"], "--results {text}: not a per-question table"),
    (["--results", "{table}"], "--results {table}: not a per-question table of the evaluation, it lacks the columns"),
])
def test_the_command_refuses_bad_options_and_files_by_name(argv, message, tmp_path, monkeypatch, capsys):
    from r2_pipeline.reporting import compare_runs

    files = {"missing": tmp_path / "none.parquet", "text": tmp_path / "notes.txt", "table": tmp_path / "t.parquet"}
    files["text"].write_text("not a table")
    pd.DataFrame({"method": ["r2"], "correct": [True]}).to_parquet(files["table"])
    argv = [a.format(**files) for a in argv]
    monkeypatch.setattr("sys.argv", ["compare_runs", "r2", "r2", *argv])
    with pytest.raises(SystemExit) as exit_:
        compare_runs.main()
    assert exit_.value.code == 2 and message.format(**files) in capsys.readouterr().err
