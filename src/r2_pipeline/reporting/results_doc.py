"""Writes docs/results.md from a finished run's reporting folder: every method's accuracy and cost,
the paired comparisons, and the commit and CPU the numbers came from. Generated, never typed:
`python -m r2_pipeline.reporting.results_doc [--reporting data/08_reporting] [--out docs/results.md]
[--title Results]`. Another page (a variant of the chain) gets its own plot file beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

COMMAND = "python -m r2_pipeline.reporting.results_doc"
INPUTS = ("metrics.json", "method_comparisons.csv", "pool_training.csv")
PLOT = "accuracy_vs_cost.png"
TITLE = "Results"
DEFAULT_PAGE = Path("docs/results.md")
# the seeds report (reporting/seeds.py) is generated apart, between these markers, and kept here
SEEDS_BEGIN, SEEDS_END = "<!-- seeds report: generated, do not edit -->", "<!-- end of seeds report -->"


def read_reporting(reporting: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """metrics.json, method_comparisons.csv and pool_training.csv of one run; a missing one is named."""
    missing = [name for name in INPUTS if not (reporting / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{', '.join(str(reporting / m) for m in missing)} not found: run the "
                                "pipeline first (`dvc repro`), or point --reporting at a run's folder")
    metrics = json.loads((reporting / "metrics.json").read_text())
    return metrics, pd.read_csv(reporting / INPUTS[1]), pd.read_csv(reporting / INPUTS[2])


def git_state(cwd: Path, ignored: set[str] = frozenset()) -> str:
    """The short commit, with "(dirty tree)" when files other than `ignored` (paths relative to the
    repository) differ from it; "unknown" outside git."""
    try:
        commit = _git(cwd, "rev-parse", "--short", "HEAD").strip()
        changed = {line[3:] for line in _git(cwd, "status", "--porcelain").splitlines()}
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (dirty tree)" if changed - set(ignored) else "")


def _git(cwd: Path, *args: str) -> str:
    """Its output as printed: a porcelain line opens with a space that must stay."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def _repo_relative(paths: list[Path], cwd: Path) -> set[str]:
    """`paths` relative to the repository's top folder (as `git status` writes them)."""
    try:
        top = Path(_git(cwd, "rev-parse", "--show-toplevel")).resolve()
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {p.resolve().relative_to(top).as_posix() for p in paths if p.resolve().is_relative_to(top)}


def machine(training: pd.DataFrame) -> tuple[str, str]:
    """(CPU capability, torch build) the pool trained with; several values are all listed."""
    def values(column: str) -> str:
        found = training[column].dropna().astype(str).unique() if column in training else []
        return ", ".join(found) or "unknown"
    return values("cpu_capability"), values("torch")


def _number(value, spec: str = ".3f") -> str:
    return "-" if value is None or pd.isna(value) else format(value, spec)


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _interval(values: dict, name: str, spec: str = ".3f", low: str = "_ci95_low", high: str = "_ci95_high") -> str:
    """`value [low, high]` of `name` in `values`; "-" without the value."""
    if values.get(name) is None or pd.isna(values.get(name)):
        return "-"
    return (f"{_number(values[name], spec)} [{_number(values.get(name + low), spec)}, "
            f"{_number(values.get(name + high), spec)}]")


def method_table(methods: dict[str, dict]) -> list[str]:
    """Every method, cheapest first: accuracy with its 95% interval and its spread over seeds, cost,
    cost vs the largest member, the objective with its interval."""
    lambdas = sorted({m["cost_lambda"] for m in methods.values() if "cost_lambda" in m})
    objective = f"objective (λ = {', '.join(f'{x:g}' for x in lambdas)}) [95% CI]" if lambdas else "objective"
    lines = [_row(["method", "accuracy [95% CI]", "seed sd", "cost (USD)", "vs largest", objective,
                   "router cost (USD)", "n", "seeds"]), _row(["---"] * 9)]
    for name, m in sorted(methods.items(), key=lambda item: (item[1].get("cost_usd", 0.0), item[0])):
        lines.append(_row([f"`{name}`", _interval(m, "accuracy"), _number(m.get("accuracy_seed_sd")),
                           _number(m.get("cost_usd"), ".4f"), _number(m.get("cost_vs_largest")),
                           _interval(m, "objective"), _number(m.get("router_cost_usd"), ".4f"),
                           m.get("n", "-"), m.get("seeds", "-")]))
    return lines


def comparison_table(pairs: pd.DataFrame) -> list[str]:
    """The paired comparisons: accuracy difference, cost ratio and objective difference with their
    intervals, McNemar's p."""
    lines = [_row(["method", "baseline", "accuracy diff [95% CI]", "right only in method / baseline",
                   "McNemar p", "cost ratio [95% CI]", "objective diff [95% CI]", "beats"]), _row(["---"] * 8)]
    for r in pairs.to_dict("records"):
        lines.append(_row([f"`{r['method']}`", f"`{r['baseline']}`",
                           _interval(r, "accuracy_diff", "+.3f", "_low", "_high"),
                           f"{r['method_better']} / {r['baseline_better']}", _number(r["mcnemar_p"], ".2g"),
                           _interval(r, "cost_ratio", ".3f", "_low", "_high"),
                           _interval(r, "objective_diff", "+.3f", "_low", "_high"),
                           "yes" if str(r["beats"]).lower() == "true" else "no"]))
    return lines


BUCKET_NOTE = (" The bucket oracle makes the oracle's search knowing only each member's mean rate per difficulty "
               "bucket: its gap over the label policy is the part of the room a router reaches from what a subtask "
               "looks like; the rest is each member's luck on each exact subtask.")


def has_bucket_room(room: pd.DataFrame) -> bool:
    """Whether headroom.csv has a bucket oracle's room on some row."""
    return "bucket_room" in room and bool(room["bucket_room"].notna().any())


def headroom_table(room: pd.DataFrame) -> list[str]:
    """RL's room per lambda (headroom.csv): oracle and label policy on the objective, their gap, the
    router's gain over its baseline and its share of the gap; with a bucket oracle, its objective
    and its gap over the label policy."""
    bucket = has_bucket_room(room)
    head = ["λ", "oracle", "label policy", "room [95% CI]", "router", "baseline", "gain [95% CI]", "share of room"]
    head += ["bucket oracle", "bucket room [95% CI]"] if bucket else []
    lines = [_row(head), _row(["---"] * len(head))]
    for r in room.to_dict("records"):
        cells = [f"{r['cost_lambda']:g}", f"{r['oracle_objective']:.3f}", f"{r['label_policy_objective']:.3f}",
                 _interval(r, "room", "+.3f", "_low", "_high"),
                 f"`{r['router']}` {r['router_objective']:.3f}", f"`{r['baseline']}` {r['baseline_objective']:.3f}",
                 _interval(r, "gain", "+.3f", "_low", "_high"), _number(r.get("gain_share_of_room"), ".2f")]
        if bucket:
            cells += [_number(r.get("bucket_oracle_objective"), ".3f"), _interval(r, "bucket_room", "+.3f", "_low", "_high")]
        lines.append(_row(cells))
    return lines


def ladder_table(ladder: pd.DataFrame) -> list[str]:
    """Each member's success rate per bucket (pool_ladder.csv)."""
    table = ladder.pivot(index="member", columns="bucket", values="accuracy")
    lines = [_row(["member", *[f"bucket {b}" for b in table.columns]]), _row(["---"] * (len(table.columns) + 1))]
    for member, rates in table.iterrows():
        lines.append(_row([f"`{member}`", *[f"{v:.3f}" for v in rates]]))
    return lines


def pool_table(training: pd.DataFrame) -> list[str]:
    """Per tier of the pool: parameters, final training loss, seconds."""
    lines = [_row(["member", "parameters", "final loss", "seconds"]), _row(["---"] * 4)]
    for r in training.itertuples():
        lines.append(_row([f"`{r.member}`", getattr(r, "parameters", "-"),
                           _number(getattr(r, "final_loss", None), ".4f"), getattr(r, "seconds", "-")]))
    return lines


def benchmark_section(benchmark: str, methods: dict, comparisons: pd.DataFrame) -> list[str]:
    pairs = comparisons[comparisons["benchmark"] == benchmark]
    lines = [f"## {benchmark}", "", *method_table(methods), ""]
    if len(pairs):
        lines += ["Paired comparisons on the same (question, seed) pairs:", "", *comparison_table(pairs), ""]
    return lines


def plot_file(page: Path, plot: str = PLOT) -> str:
    """The plot's file beside `page`: `plot` beside results.md, `<page>_<plot>` beside another page,
    so two pages in one folder keep their own plots (this page's, and the seeds report's)."""
    return plot if page.name == "results.md" else f"{page.stem}_{plot}"


def shown_page(out: Path, root: Path) -> Path:
    """`out` as a command cites it: relative to `root` (the project) where it lies inside it."""
    return out.resolve().relative_to(root.resolve()) if out.resolve().is_relative_to(root.resolve()) else out


def page_command(out: Path, title: str) -> str:
    """The command that writes `out`, run from the project root: another page and title named."""
    page = shown_page(out, Path.cwd())
    return (COMMAND + ("" if page == DEFAULT_PAGE else f" --out {page.as_posix()}")
            + ("" if title == TITLE else f" --title '{title}'"))


def render(metrics: dict, comparisons: pd.DataFrame, training: pd.DataFrame, commit: str,
           date: str, plot: bool | str = False, room: pd.DataFrame | None = None, ladder: pd.DataFrame | None = None,
           title: str = TITLE, command: str = COMMAND) -> str:
    """The whole page as Markdown; `plot`: the plot file's name beside the page (True: PLOT)."""
    capability, torch = machine(training)
    lines = [f"# {title}", "",
             f"Generated by `{command}` on {date} from a run's reporting folder; do not edit this page.",
             "", f"- commit of the checkout holding the run: {commit}",
             f"- CPU capability: {capability}", f"- torch: {torch}",
             "", "Numbers hold for this pool on this kind of CPU ([reproducibility.md](reproducibility.md)): compare "
             "methods within this page, not across machines. Each method ran once per evaluation seed "
             "(`seeds`): accuracy and the objective are means over its (question, seed) answers, `seed sd` "
             "the spread of its per-seed accuracies, cost the USD of the test split per seed under the price "
             "table. `vs largest` divides by the dearest member's single-model cost; the objective is "
             "accuracy - λ · vs largest. Intervals come from a bootstrap over questions (Wilson's for the "
             "accuracy of one seed).", ""]
    if plot:
        lines += [f"![accuracy against cost]({PLOT if plot is True else plot})", ""]
    for benchmark, methods in metrics.items():
        lines += benchmark_section(benchmark, methods, comparisons)
    if room is not None and len(room):
        lines += ["## RL's room", "", "Per λ that trained a router: the expected-reward oracle and the label "
                  "policy (what a perfect imitator of the SFT labels does) on the objective at that λ, their gap "
                  "(the room RL has and SFT does not), and the router's gain over its SFT baseline, paired by "
                  "(question, seed)." + (BUCKET_NOTE if has_bucket_room(room) else ""), "",
                  *headroom_table(room), ""]
    lines += ["## The pool", "", *pool_table(training), ""]
    if ladder is not None and len(ladder):
        lines += ["Success rate of each member per difficulty bucket (held-out subtasks, several samples each; "
                  "buckets 6 and 7 are compound subtasks):", "", *ladder_table(ladder), ""]
    return "\n".join(lines)


def write_section(page: Path, section: str) -> None:
    """Put `section` (reporting/seeds.py's report) into `page`, in place of its previous one or at its end."""
    text = page.read_text() if page.is_file() else "# Results\n"
    if SEEDS_BEGIN in text and SEEDS_END in text:
        head, rest = text.split(SEEDS_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(SEEDS_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)


def seeds_section(page: Path) -> str | None:
    """The seeds report held by `page`, None for none (results_doc keeps it when it rewrites the page)."""
    text = page.read_text() if page.is_file() else ""
    if SEEDS_BEGIN not in text or SEEDS_END not in text:
        return None
    return SEEDS_BEGIN + text.split(SEEDS_BEGIN, 1)[1].split(SEEDS_END, 1)[0] + SEEDS_END + "\n"


def write_results(reporting: Path, out: Path, title: str = TITLE) -> Path:
    """Render `out` from `reporting` and copy the accuracy-vs-cost plot beside it when there is one
    (`plot_file`: a page other than results.md does not overwrite results.md's plot)."""
    metrics, comparisons, training = read_reporting(reporting)
    plot, beside = reporting / PLOT, out.parent / plot_file(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the checkout that holds the run's outputs (not this page's, which may be another worktree)
    commit = git_state(reporting, _repo_relative([out, beside], reporting))
    if plot.is_file():
        shutil.copyfile(plot, beside)
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    room, ladder = (pd.read_csv(reporting / name) if (reporting / name).is_file() else None
                    for name in ("headroom.csv", "pool_ladder.csv"))
    kept = seeds_section(out)
    page = render(metrics, comparisons, training, commit, date, plot.is_file() and beside.name, room, ladder,
                  title=title, command=page_command(out, title))
    out.write_text(page + ("\n" + kept if kept else ""))
    logger.info("wrote %s from %s (commit %s)", out, reporting, commit)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporting", type=Path, default=Path("data/08_reporting"))
    parser.add_argument("--out", type=Path, default=DEFAULT_PAGE)
    parser.add_argument("--title", default=TITLE, help="the page's heading (a variant of the chain names itself)")
    args = parser.parse_args(argv)
    if not args.title.strip():
        parser.error("--title is empty")
    try:
        print(write_results(args.reporting, args.out, args.title.strip()))  # noqa: T201
    except FileNotFoundError as error:
        parser.exit(1, f"error: {error}\n")


if __name__ == "__main__":
    main()
