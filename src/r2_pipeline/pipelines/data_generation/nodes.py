"""Nodes of `data_generation`: the micro world's splits, decomposition targets, allocation labels.

Two teachers, one set of nodes (`data_generation.teacher.kind`):
- `reference` (micro): the world's own decomposition and perturbed variants; a subtask's answer is
  verified against its exact value;
- `endpoint` (paper): a strong pool member prompted with worked decompositions writes candidates
  for the questions of `teacher.benchmarks`; a reviewer member verifies subtask answers.
Endpoint candidate tables carry `benchmark`, `question`, `answer` and `meta` columns; micro ones
read those from `world_train`.
"""

from __future__ import annotations

import json
import logging
import random

import pandas as pd

from ...labels.candidates import score_candidates
from ...labels.grouped_search import SearchItem, grouped_search
from ...labels.micro_labels import (
    candidate_plans,
    label_subtasks,
    member_sampling,
    plan_tokens,
    search_items,
    search_tries,
    verify_plans,
)
from ...labels.teacher import Verdict, propose, reviewer
from ...pool.base import sampling_from
from ...pool.factory import ladder_order, pool_from_params
from ...reasoning.execute import execute, final_value, fixed_member
from ...tasks import micro
from ...tasks.base import Example, get_task
from ...tasks.benchmark import STEP_SAMPLING

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
# the seed of the members' draws for the query router's outcome table, apart from evaluation's
OUTCOMES_SEED = 3000
MAX_REPEATS = 100_000  # draws in a row that repeat a question (or problem) before generate_world gives up


def generate_world(data_generation: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sample problems until every split is full; a question never appears twice in the world, nor,
    with `dedup: problem`, its reference subtasks (the same arithmetic, worded otherwise).

    Splits are drawn in order (train, validation, test); `extra_train` more training questions are
    drawn after the test split, so growing the training set never changes validation or test."""
    world = data_generation["world"]
    total = sum(world["sizes"][s] for s in SPLITS)
    problems = _draw(random.Random(world["seed"]), world, set(), total + world.get("extra_train", 0))
    frame = pd.DataFrame([_row(f"micro-{i:06d}", p) for i, p in enumerate(problems)])
    train, validation, test = (frame.iloc[a:b] for a, b in _cuts([world["sizes"][s] for s in SPLITS]))
    train = pd.concat([train, frame.iloc[total:]])
    return tuple(split.reset_index(drop=True) for split in (train, validation, test))  # type: ignore[return-value]


def generate_dev(world_train: pd.DataFrame, world_validation: pd.DataFrame, world_test: pd.DataFrame,
                 data_generation: dict) -> pd.DataFrame:
    """`sizes.dev` questions for studies to tune on, none of them (with `dedup: problem`, none of
    their problems) in train (extra training questions included), validation or test.

    They come from a stream of their own, seeded from `world.seed`, so the other splits are the
    same with or without them; a larger dev split starts with the smaller one's questions."""
    world = data_generation["world"]
    seen = set().union(*(_keys(split, world) for split in (world_train, world_validation, world_test)))
    problems = _draw(random.Random(f"dev/{world['seed']}"), world, seen, world["sizes"].get("dev", 0))
    return pd.DataFrame([_row(f"micro-dev-{i:06d}", p) for i, p in enumerate(problems)], columns=COLUMNS)


def _keys(split: pd.DataFrame, world: dict) -> set[str]:
    """What `dedup` compares, for the rows of a written split (`_row` stores the subtasks as `_draw` keys them)."""
    return set(split["subtasks"] if world.get("dedup", "question") == "problem" else split["question"])


def _draw(rng: random.Random, world: dict, seen: set[str], count: int) -> list[micro.Problem]:
    """`count` problems whose question (or, with `dedup: problem`, reference subtasks) is not in
    `seen`, nor repeated; `seen` grows with each."""
    by_problem = world.get("dedup", "question") == "problem"
    problems, repeats = [], 0
    while len(problems) < count:
        problem = micro.sample_problem(rng, world["min_steps"], world["max_steps"], world["bucket_weights"])
        key = json.dumps(problem.subtasks) if by_problem else problem.question
        if key in seen:
            repeats += 1
            if repeats > MAX_REPEATS:
                raise ValueError(
                    f"the micro world ran out of distinct {world.get('dedup', 'question')}s after {len(problems)} of "
                    f"{count}: {MAX_REPEATS} draws in a row were repeats. Lower data_generation.world.sizes "
                    f"or extra_train, or allow more steps (min_steps {world['min_steps']}, max_steps "
                    f"{world['max_steps']})")
            continue
        seen.add(key)
        repeats = 0
        problems.append(problem)
    return problems


COLUMNS = ["id", "question", "answer", "subtasks", "buckets", "n_steps", "hardest_bucket"]


def _row(id_: str, problem: micro.Problem) -> dict:
    return {
        "id": id_,
        "question": problem.question,
        "answer": problem.answer,
        "subtasks": json.dumps(problem.subtasks),
        "buckets": json.dumps(problem.buckets),
        "n_steps": len(problem.steps),
        "hardest_bucket": max(problem.buckets),
    }


def _cuts(sizes: list[int]) -> list[tuple[int, int]]:
    edges = [0]
    for size in sizes:
        edges.append(edges[-1] + size)
    return list(zip(edges[:-1], edges[1:]))


def propose_decompositions(
    world_train: pd.DataFrame, data_generation: dict, pool_manifest: dict, pool: dict
) -> pd.DataFrame:
    """Candidates per training question from the configured teacher (micro: reference + variants)."""
    teacher = data_generation["teacher"]
    if teacher["kind"] == "endpoint":
        return _endpoint_candidates(teacher, pool_from_params(pool_manifest, pool))
    if teacher["kind"] != "reference":
        raise ValueError(f"unknown teacher kind {teacher['kind']!r}; use 'reference' or 'endpoint'")
    plans = candidate_plans([json.loads(s) for s in world_train["subtasks"]], teacher["variants"],
                            data_generation["world"]["seed"])
    return pd.DataFrame([{"id": id_, "candidate": k, "subtasks": json.dumps(cand)}
                         for id_, cands in zip(world_train["id"], plans) for k, cand in enumerate(cands)])


def score_decompositions(
    candidates: pd.DataFrame, world_train: pd.DataFrame, pool_manifest: dict, pool: dict, data_generation: dict
) -> pd.DataFrame:
    """Execute every candidate on the evaluation member; score conciseness, practicality, coherence."""
    spec = data_generation["decomposition"]
    built = pool_from_params(pool_manifest, pool)
    if "benchmark" in candidates.columns:
        return _choose(_endpoint_scores(candidates, built, spec), spec)
    task = get_task("micro")
    gold = dict(zip(world_train["id"], world_train["answer"]))
    question = dict(zip(world_train["id"], world_train["question"]))
    frame = candidates.copy()
    frame["tokens"], frame["verified"] = verify_plans(
        built, task, [question[i] for i in candidates["id"]], [gold[i] for i in candidates["id"]],
        [json.loads(s) for s in candidates["subtasks"]], spec)
    return _choose(frame, spec)


def _choose(frame: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Score each question's candidates and mark the best verified one `chosen`. Scores are set by
    row label, so a question's candidates need not be adjacent (the endpoint teacher's are not)."""
    question = ["benchmark", "id"] if "benchmark" in frame.columns else "id"
    columns = ["conciseness", "practicality", "coherence", "score"]
    parts = []
    for _, group in frame.groupby(question, sort=False):
        scores = score_candidates([json.loads(s) for s in group["subtasks"]], list(group["tokens"]),
                                  list(group["verified"]), spec["weights"])
        parts.append(pd.DataFrame([(s.conciseness, s.practicality, s.coherence, s.score) for s in scores],
                                  index=group.index, columns=columns))
    frame[columns] = pd.concat(parts)
    frame["chosen"] = False
    for _, group in frame.groupby(question, sort=False):
        if group["verified"].any():
            frame.loc[group[group["verified"]]["score"].idxmax(), "chosen"] = True
        elif not spec["require_verified"]:
            frame.loc[group.index[0], "chosen"] = True  # nothing verified: keep the teacher's own
    if not frame["chosen"].any():
        raise ValueError(
            f"no candidate decomposition was verified by {spec['evaluation_member']!r}; check the pool "
            "ladder, or set data_generation.decomposition.require_verified: false"
        )
    return frame


def label_allocations(
    scored: pd.DataFrame, world_train: pd.DataFrame, pool_manifest: dict, pool: dict, data_generation: dict
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Grouped search over every subtask of every chosen decomposition (earlier values exact)."""
    spec = data_generation["allocation"]
    built = pool_from_params(pool_manifest, pool)
    ladder = ladder_order(pool)
    if "benchmark" in scored.columns:
        return _endpoint_labels(scored, built, ladder, spec)
    chosen = scored[scored["chosen"]]
    items, rows = search_items(list(chosen["id"]), [json.loads(s) for s in chosen["subtasks"]])
    attempts = label_subtasks(built, ladder, items, spec)
    if not items:
        raise ValueError("no subtask to label: no chosen decomposition could be evaluated exactly")
    return _labelled(attempts, items, rows, ladder)


def _labelled(attempts: list[dict], items: list[SearchItem], rows: list[dict], ladder: list[str]):
    labels = pd.DataFrame(rows)
    labels["start"] = [ladder[i.start] for i in items]
    labels["label"] = [ladder[i.label] for i in items]
    labels["unsolved"] = [i.unsolved for i in items]
    stats = {"subtasks": len(items), "unsolved_at_top": int(labels["unsolved"].sum()),
             "tries": max((a["try_index"] for a in attempts), default=0) + 1,
             # every paid call; the baseline's bucket probes the search never reached are among them
             "attempts": len(attempts), "baseline_outside_search": sum(not a["searched"] for a in attempts),
             "label_counts": labels["label"].value_counts().to_dict()}
    return pd.DataFrame(attempts), labels, stats


def build_sft_datasets(
    scored: pd.DataFrame, labels: pd.DataFrame, world_train: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prompt/completion tables for TRL: question -> decomposition; subtask in context -> member."""
    if "benchmark" in scored.columns:
        return _endpoint_sft(scored, labels)
    task = get_task("micro")
    question = dict(zip(world_train["id"], world_train["question"]))
    chosen = scored[scored["chosen"]]
    decomposer = pd.DataFrame({
        "prompt": [task.decomposer_prompt(question[i]) for i in chosen["id"]],
        "completion": [task.format_plan(json.loads(s), question[i]) for i, s in zip(chosen["id"], chosen["subtasks"])],
    })
    allocator = pd.DataFrame({
        "prompt": [task.allocator_prompt(question[r.id], [], r.filled) for r in labels.itertuples()],
        "completion": list(labels["label"]),
    })
    return decomposer, allocator


def measure_member_outcomes(world_train: pd.DataFrame, pool_manifest: dict, pool: dict) -> pd.DataFrame:
    """Whether each member alone solves each training question (the query-level router's labels)."""
    task = get_task("micro")
    built = pool_from_params(pool_manifest, pool)
    examples = task.load(world_train)
    plans = [task.reference_subtasks(e) for e in examples]
    frame = pd.DataFrame({"id": world_train["id"], "question": world_train["question"]})
    for member in ladder_order(pool):
        traces = execute(built, task, list(frame["question"]), plans, fixed_member(member),
                         member_sampling(OUTCOMES_SEED))
        frame[member] = [task.grade(final_value(t), e) for t, e in zip(traces, examples)]
    return frame


# ---------------------------------------------------------------- the endpoint teacher (paper)


def _endpoint_candidates(teacher: dict, built) -> pd.DataFrame:
    """The teacher member's candidates for every question of `teacher.benchmarks`."""
    missing = [name for name in teacher["benchmarks"] if not get_task(name).worked_decompositions]
    if missing:  # before any teacher call
        raise ValueError(f"benchmarks {missing} have no worked decompositions to show the teacher "
                         "(`worked_decompositions` in tasks/<name>.py)")
    sampling = sampling_from(teacher.get("sampling"))
    rows = []
    for name, spec in teacher["benchmarks"].items():
        task = get_task(name)
        shots = task.worked_decompositions[: teacher["few_shot"]]
        examples = task.load(spec.get("source"), spec["split"], spec.get("limit"))
        found = propose(built, teacher["member"], examples, shots, teacher["variants"], sampling)
        if not found:
            logger.warning("teacher %s wrote no parseable decomposition for %d %s questions",
                           teacher["member"], len(examples), name)
        for row in found:
            example = examples[row["index"]]
            rows.append({"benchmark": name, **example.columns(), "candidate": row["candidate"],
                         "subtasks": json.dumps(row["subtasks"]), "text": row["text"]})
    if not rows:
        raise ValueError(f"the teacher {teacher['member']!r} wrote no parseable decomposition (numbered "
                         "subtasks `1. ...`) for any question; check its endpoint and teacher.sampling")
    return pd.DataFrame(rows)


def _endpoint_scores(candidates: pd.DataFrame, built, spec: dict) -> pd.DataFrame:
    """Execute each candidate on the evaluation member; verified = the task grades its answer 1.0.
    `history` keeps each step's filled subtask and answer for the allocation labels."""
    sampling = sampling_from(spec.get("sampling"), **STEP_SAMPLING)
    parts = []
    for name, group in candidates.groupby("benchmark", sort=False):
        task, examples = get_task(name), [Example.from_row(r) for r in group.itertuples()]
        traces = execute(built, task, [e.question for e in examples], [json.loads(s) for s in group["subtasks"]],
                         fixed_member(spec["evaluation_member"]), sampling)
        frame = group.copy()
        frame["tokens"] = plan_tokens(traces)
        frame["verified"] = [task.grade(final_value(tr), e) >= 1.0 for tr, e in zip(traces, examples)]
        frame["history"] = [json.dumps([[t.filled, t.value] for t in tr], default=str) for tr in traces]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def _endpoint_labels(scored: pd.DataFrame, built, ladder: list[str], spec: dict):
    """Grouped search over every subtask of each chosen candidate, in the context of the evaluation
    member's earlier answers; the reviewer verifies each member's answer. One search per benchmark
    (each parses answers its own way)."""
    if not spec.get("reviewer"):
        raise ValueError("benchmark subtasks have no exact answer: set data_generation.allocation.reviewer")
    judge = reviewer(built, spec["reviewer"])
    sampling = sampling_from(spec.get("sampling"), **STEP_SAMPLING)

    def verify(group: list[SearchItem], answers: list) -> list[Verdict]:
        return judge([(i.question, i.subtask, a) for i, a in zip(group, answers)])

    attempts, all_items, rows = [], [], []
    for name, group in scored[scored["chosen"]].groupby("benchmark", sort=False):
        task, items = get_task(name), []
        for row in group.itertuples():
            history = [tuple(h) for h in json.loads(row.history)]
            for k, (filled, _) in enumerate(history):
                if filled is None:  # an earlier answer was missing: later steps never ran
                    break
                prompt = task.subtask_prompt(row.question, history[:k], filled)
                items.append(SearchItem(f"{row.id}/{k}", prompt, None, question=task.context(row.question),
                                        subtask=filled))
                rows.append({"benchmark": name, "id": row.id, "step": k, "subtask": json.loads(row.subtasks)[k],
                             "filled": filled, "question": row.question, "history": json.dumps(history[:k])})
        attempts += grouped_search(built, ladder, items, task.parse_subtask, sampling, spec["baseline"],
                                   spec["alpha"], spec["thresholds"], spec["start_tiers"], verify=verify,
                                   **search_tries(spec))
        all_items += items
    if not all_items:
        raise ValueError("no subtask to label: no candidate decomposition was chosen")
    return _labelled(attempts, all_items, rows, ladder)


def _endpoint_sft(scored: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    chosen = scored[scored["chosen"]]
    decomposer = pd.DataFrame({
        "prompt": [get_task(r.benchmark).decomposer_prompt(r.question) for r in chosen.itertuples()],
        "completion": [get_task(r.benchmark).format_plan(json.loads(r.subtasks)) for r in chosen.itertuples()],
    })
    allocator = pd.DataFrame({
        "prompt": [get_task(r.benchmark).allocator_prompt(r.question, [tuple(h) for h in json.loads(r.history)],
                                                         r.filled) for r in labels.itertuples()],
        "completion": list(labels["label"]),
    })
    return decomposer, allocator
