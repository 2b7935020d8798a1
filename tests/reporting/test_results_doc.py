"""The generated results page (reporting/results_doc.py), from small hand-made reporting tables."""

import json
import subprocess

import pandas as pd
import pytest

from r2_pipeline.reporting import results_doc
from r2_pipeline.reporting.results_doc import main, read_reporting, write_results

SEEDS = {"seeds": 3, "accuracy_seed_sd": 0.02, "cost_lambda": 0.5}
METRICS = {"micro": {
    "single:t1": {"accuracy": 0.1, "accuracy_ci95_low": 0.05, "accuracy_ci95_high": 0.2, "cost_usd": 0.001,
                  "cost_vs_largest": 0.01, "objective": 0.095, "objective_ci95_low": 0.045,
                  "objective_ci95_high": 0.195, "router_cost_usd": 0.0, "n": 20, **SEEDS},
    "single:t2": {"accuracy": 0.9, "accuracy_ci95_low": 0.7, "accuracy_ci95_high": 0.97, "cost_usd": 0.1,
                  "cost_vs_largest": 1.0, "objective": 0.4, "objective_ci95_low": 0.2, "objective_ci95_high": 0.47,
                  "router_cost_usd": 0.0, "n": 20, **SEEDS},
    "r2_sft@0.8+recheck_agree=0.85": {"accuracy": 0.85, "accuracy_ci95_low": 0.64, "accuracy_ci95_high": 0.95,
                                      "cost_usd": 0.02, "cost_vs_largest": 0.2, "objective": 0.75,
                                      "objective_ci95_low": 0.54, "objective_ci95_high": 0.85,
                                      "router_cost_usd": 0.002, "n": 20, **SEEDS},
}}
COMPARISON = {"benchmark": "micro", "n": 20, "accuracy": 0.85, "baseline_accuracy": 0.9, "accuracy_diff": -0.05,
              "accuracy_diff_low": -0.15, "accuracy_diff_high": 0.05, "method_better": 1, "baseline_better": 2,
              "mcnemar_p": 1.0, "cost_usd": 0.02, "baseline_cost_usd": 0.1, "cost_ratio": 0.2,
              "cost_ratio_low": 0.18, "cost_ratio_high": 0.22, "beats": False, "seeds": 3, "objective_diff": 0.35,
              "objective_diff_low": 0.25, "objective_diff_high": 0.45}
PAIRS = [("r2_sft@0.8+recheck_agree=0.85", "single:t2"), ("single:t1", "r2_sft@0.8+recheck_agree=0.85")]
TRAINING = pd.DataFrame({"member": ["t1", "t2"], "init_from": ["", "t1"], "parameters": [1000, 2000],
                         "final_loss": [0.01, 0.002], "seconds": [3.5, 7.0], "torch": ["2.13.0+cpu"] * 2,
                         "cpu_capability": ["AVX512"] * 2})


@pytest.fixture
def reporting(tmp_path):
    folder = tmp_path / "08_reporting"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps(METRICS))
    rows = [{"method": m, "baseline": b, **COMPARISON} for m, b in PAIRS]
    pd.DataFrame(rows).to_csv(folder / "method_comparisons.csv", index=False)
    TRAINING.to_csv(folder / "pool_training.csv", index=False)
    return folder


def test_page_lists_every_method_and_comparison_cheapest_first(reporting, tmp_path):
    page = write_results(reporting, tmp_path / "docs" / "results.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    methods = [row.split("`")[1] for row in rows if row.count("`") == 2 and "[" in row]
    assert methods == ["single:t1", "r2_sft@0.8+recheck_agree=0.85", "single:t2"]  # by cost
    for method, baseline in PAIRS:
        assert any(f"| `{method}` | `{baseline}` |" in row for row in rows)
    assert "-0.050 [-0.150, +0.050]" in page and "1 / 2" in page and "0.200 [0.180, 0.220]" in page
    assert "+0.350 [+0.250, +0.450]" in page  # the objective difference
    assert "| `r2_sft@0.8+recheck_agree=0.85` | 0.850 [0.640, 0.950] | 0.020 | 0.0200 | 0.200 | 0.750 [0.540, 0.850] |" \
        in page
    assert "objective (λ = 0.5) [95% CI]" in page and "| n | seeds |" in page


def test_a_benchmark_without_the_largest_method_shows_no_objective(reporting, tmp_path):
    """Without `single` on the dearest member there is no cost to measure against: no `vs largest`,
    no objective, and comparisons whose objective difference is empty."""
    metrics = {"micro": {name: {k: v for k, v in values.items() if k not in
                                {"cost_vs_largest", "objective", "objective_ci95_low", "objective_ci95_high",
                                 "cost_lambda"}}
                         for name, values in METRICS["micro"].items()}}
    (reporting / "metrics.json").write_text(json.dumps(metrics))
    rows = [{"method": m, "baseline": b, **COMPARISON, "objective_diff": None} for m, b in PAIRS]
    pd.DataFrame(rows).to_csv(reporting / "method_comparisons.csv", index=False)
    page = write_results(reporting, tmp_path / "results.md").read_text()
    assert "| `single:t1` | 0.100 [0.050, 0.200] | 0.020 | 0.0010 | - | - |" in page
    assert "| 0.200 [0.180, 0.220] | - | no |" in page


def test_page_states_its_origin_and_machine(reporting, tmp_path):
    page = write_results(reporting, tmp_path / "results.md").read_text()
    assert "python -m r2_pipeline.reporting.results_doc" in page and "do not edit" in page
    assert "commit of the checkout holding the run: unknown" in page  # tmp_path is outside git
    assert "CPU capability: AVX512" in page and "torch: 2.13.0+cpu" in page
    assert "| `t2` | 2000 | 0.0020 | 7.0 |" in page


def test_plot_is_copied_and_embedded_when_present(reporting, tmp_path):
    out = tmp_path / "docs" / "results.md"
    assert "accuracy_vs_cost.png" not in write_results(reporting, out).read_text()
    (reporting / "accuracy_vs_cost.png").write_bytes(b"\x89PNG fake")
    page = write_results(reporting, out).read_text()
    assert "![accuracy against cost](accuracy_vs_cost.png)" in page
    assert (out.parent / "accuracy_vs_cost.png").read_bytes() == b"\x89PNG fake"


def test_another_page_keeps_its_own_plot_title_and_command(reporting, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    monkeypatch.chdir(tmp_path)  # the project root, where the command runs
    (reporting / "accuracy_vs_cost.png").write_bytes(b"\x89PNG run")
    write_results(reporting, docs / "results.md")
    (reporting / "accuracy_vs_cost.png").write_bytes(b"\x89PNG variant")
    page = write_results(reporting, docs / "variant.md", title="A variant").read_text()
    assert page.startswith("# A variant\n")
    assert "![accuracy against cost](variant_accuracy_vs_cost.png)" in page
    assert "`python -m r2_pipeline.reporting.results_doc --out docs/variant.md --title 'A variant'`" in page
    assert (docs / "variant_accuracy_vs_cost.png").read_bytes() == b"\x89PNG variant"
    assert (docs / "accuracy_vs_cost.png").read_bytes() == b"\x89PNG run"  # results.md's plot is kept
    assert "`python -m r2_pipeline.reporting.results_doc` on" in (docs / "results.md").read_text()


def test_cli_refuses_an_empty_title(reporting, tmp_path):
    with pytest.raises(SystemExit):
        main(["--reporting", str(reporting), "--out", str(tmp_path / "p.md"), "--title", " "])


@pytest.mark.parametrize("name", ["metrics.json", "method_comparisons.csv", "pool_training.csv"])
def test_missing_input_is_named(reporting, name):
    (reporting / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        read_reporting(reporting)


def test_cli_reports_a_missing_input_without_a_traceback(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--reporting", str(tmp_path), "--out", str(tmp_path / "results.md")])
    assert exit_info.value.code == 1
    assert "metrics.json" in capsys.readouterr().err
    assert not (tmp_path / "results.md").exists()


def test_git_state_marks_a_dirty_tree_but_not_the_generated_files(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("commit", "-q", "-m", "one")
    commit = git("rev-parse", "--short", "HEAD")
    (tmp_path / "results.md").write_text("generated\n")
    assert results_doc.git_state(tmp_path, {"results.md"}) == commit
    git("add", "results.md")
    git("commit", "-q", "-m", "two")
    commit = git("rev-parse", "--short", "HEAD")
    (tmp_path / "results.md").write_text("regenerated\n")  # ` M results.md`, the first status line
    assert results_doc.git_state(tmp_path, {"results.md"}) == commit
    (tmp_path / "code.py").write_text("x = 2\n")
    assert results_doc.git_state(tmp_path, {"results.md"}) == f"{commit} (dirty tree)"


def test_the_room_and_the_ladder_are_shown_when_the_run_wrote_them(reporting, tmp_path):
    from r2_pipeline.reporting.headroom import COLUMNS

    room = {c: 0.0 for c in COLUMNS}
    room.update(benchmark="micro", cost_lambda=0.5, oracle="expected_oracle", label_policy="label_policy",
                router="r2", baseline="r2_sft", oracle_objective=0.8, label_policy_objective=0.7, room=0.1,
                room_low=0.08, room_high=0.12, router_objective=0.75, baseline_objective=0.7, gain=0.05,
                gain_low=0.02, gain_high=0.08, gain_share_of_room=0.5, bucket_oracle="expected_oracle@bucket",
                bucket_oracle_objective=0.72, bucket_room=0.02, bucket_room_low=0.0, bucket_room_high=0.04)
    pd.DataFrame([room]).to_csv(reporting / "headroom.csv", index=False)
    pd.DataFrame({"member": ["t1", "t1", "t2", "t2"], "bucket": [1, 6, 1, 6],
                  "accuracy": [0.9, 0.1, 1.0, 0.6]}).to_csv(reporting / "pool_ladder.csv", index=False)
    page = write_results(reporting, tmp_path / "results.md").read_text()
    assert "## RL's room" in page and "| 0.5 | 0.800 | 0.700 | +0.100 [+0.080, +0.120] |" in page
    assert "| 0.50 | 0.720 | +0.020 [+0.000, +0.040] |" in page and "| bucket oracle | bucket room [95% CI] |" in page
    room.update(bucket_oracle=None, bucket_oracle_objective=None, bucket_room=None)  # an evaluation without it
    pd.DataFrame([room]).to_csv(reporting / "headroom.csv", index=False)
    assert "bucket oracle" not in write_results(reporting, tmp_path / "results.md").read_text()
    assert "| `t2` | 1.000 | 0.600 |" in page
