"""TRL glue on tiny real models: SFT and one GRPO step per phase change the trainable weights only."""

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from r2_pipeline.pipelines.rl_refinement.nodes import refine_allocator, refine_decomposer
from r2_pipeline.pipelines.sft_nodes import fit_sft
from r2_pipeline.tasks import micro
from r2_pipeline.tasks.micro.task import TASK
from r2_pipeline.training.tiny import save_model

TRAINER = {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1e-2, "logging_steps": 1,
           "save_strategy": "no", "report_to": "none", "use_cpu": True, "bf16": False,
           "dataloader_num_workers": 0, "max_length": 96, "seed": 0}
GRPO = {"max_steps": 1, "per_device_train_batch_size": 4, "num_generations": 4, "temperature": 1.0, "beta": 0.02,
        "learning_rate": 1e-2, "logging_steps": 1, "save_strategy": "no", "report_to": "none", "use_cpu": True,
        "bf16": False, "dataloader_num_workers": 0, "seed": 0}


def folder_hash(path) -> str:
    return hashlib.sha256((Path(path) / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world():
    import random

    rng = random.Random(0)
    problems = [micro.sample_problem(rng, 2, 3, [0.5, 0.5, 0, 0, 0]) for _ in range(8)]
    return pd.DataFrame({"id": [f"q{i}" for i in range(8)], "question": [p.question for p in problems],
                         "answer": [p.answer for p in problems], "subtasks": [json.dumps(p.subtasks) for p in problems]})


@pytest.fixture(scope="module")
def routers(world, tmp_path_factory):
    """A decomposer and an allocator after a few real SFT steps, saved as folders."""
    out = tmp_path_factory.mktemp("routers")
    dec_data = pd.DataFrame({"prompt": [TASK.decomposer_prompt(q) for q in world["question"]],
                             "completion": [TASK.format_plan(json.loads(s), q)
                                            for s, q in zip(world["subtasks"], world["question"])]})
    alloc_data = pd.DataFrame({"prompt": ["003+004=>", "012+007=>", "012*007=>", "123+004=>"],
                               "completion": ["t1", "t1", "t1", "t1"]})
    backbone = {"kind": "tiny", "architecture": "gpt2", "hidden_size": 32, "num_hidden_layers": 1,
                "num_attention_heads": 2, "max_position_embeddings": 128}
    # enough steps to memorise 8 plans, so the allocator phase has real subtasks to allocate
    memorise = {**TRAINER, "max_steps": 150, "learning_rate": 3e-3, "per_device_train_batch_size": 8}
    wider = {**backbone, "hidden_size": 64, "num_hidden_layers": 2, "tokenizer": "words"}
    dec, curves = fit_sft(dec_data, {"backbone": wider, "trainer": memorise})
    alloc, _ = fit_sft(alloc_data, {"backbone": {**backbone, "tokenizer": "chars"},
                                    "trainer": {**TRAINER, "max_steps": 40, "learning_rate": 5e-3}})
    assert "loss" in curves.columns
    return str(save_model(*dec, out / "decomposer")), str(save_model(*alloc, out / "allocator"))


@pytest.mark.slow
def test_sft_changes_the_weights(world):
    data = pd.DataFrame({"prompt": ["003+004=>"] * 8, "completion": ["t1"] * 8})
    settings = {"backbone": {"kind": "tiny", "tokenizer": "chars", "architecture": "gpt2", "hidden_size": 16,
                             "num_hidden_layers": 1, "num_attention_heads": 1, "max_position_embeddings": 32},
                "trainer": TRAINER}
    torch.manual_seed(0)
    from r2_pipeline.training.sft import load_backbone, sft_train

    model, tokenizer = load_backbone(settings["backbone"], ["003+004=>t1"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model, history = sft_train(model, tokenizer, data.to_dict("records"), TRAINER)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed and any(h.get("loss") for h in history)


def rl_params():
    return {"cost_lambda": 0.5, "rewards": ["correctness", "cost", "format"], "fallback": "t1",
            # hot sampling: the memorised decomposer must write different plans for the group's
            # rewards (and so its advantages) to differ, or the step has no gradient
            "decomposer": {"questions": 8, "seed": 0,
                           "trainer": {**GRPO, "max_completion_length": 48, "temperature": 1.2, "max_steps": 3}},
            "allocator": {"questions": 8, "seed": 0,
                          "trainer": {**GRPO, "max_completion_length": 3, "temperature": 1.5, "max_steps": 3}}}


def pool_params(member: str) -> tuple[dict, dict]:
    price = {"input_per_m": 1.0, "output_per_m": 2.0, "date": "d", "source": "s"}
    return ({"t1": {"backend": "transformers", "path": member}},
            {"members": {"t1": {"backend": "transformers"}}, "prices": {"t1": price, "router": price},
             "price_table": "test", "router_member": "router"})


@pytest.mark.integration
def test_grpo_decomposer_phase_changes_only_the_decomposer(routers, world, tiny_member):
    decomposer, allocator = routers
    frozen = folder_hash(allocator), folder_hash(tiny_member)
    manifest, pool = pool_params(tiny_member)
    (model, _), curves = refine_decomposer(decomposer, allocator, world, manifest, pool, rl_params())
    assert "reward" in curves.columns and "rewards/correctness/mean" in curves.columns
    trained = model.state_dict()
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained(decomposer).state_dict()
    assert any(not torch.equal(trained[k], original[k]) for k in original)
    assert (folder_hash(allocator), folder_hash(tiny_member)) == frozen


@pytest.mark.integration
def test_grpo_allocator_phase_changes_only_the_allocator(routers, world, tiny_member):
    decomposer, allocator = routers
    frozen = folder_hash(decomposer), folder_hash(tiny_member)
    manifest, pool = pool_params(tiny_member)
    assert _has_plans(decomposer, world), "the memorising decomposer should write parseable plans"
    (model, _), curves = refine_allocator(decomposer, allocator, world, manifest, pool, rl_params())
    assert "rewards/cost/mean" in curves.columns
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_pretrained(allocator).state_dict()
    assert any(not torch.equal(v, original[k]) for k, v in model.state_dict().items())
    assert (folder_hash(decomposer), folder_hash(tiny_member)) == frozen


def _has_plans(decomposer, world) -> bool:
    from r2_pipeline.pool.base import SamplingParams
    from r2_pipeline.pool.local import trained_router

    outs = trained_router(decomposer).generate([TASK.decomposer_prompt(q) for q in world["question"]],
                                               SamplingParams(max_new_tokens=64))
    return any(TASK.parse_plan(o.text, q) for o, q in zip(outs, world["question"]))


def test_a_missing_pretrained_folder_is_not_looked_up_on_the_hub(tmp_path):
    from r2_pipeline.training.sft import load_backbone

    with pytest.raises(FileNotFoundError, match=r"backbone.path .*Qwen2.5-1.5B-Instruct' is not a folder"):
        load_backbone({"kind": "pretrained", "path": str(tmp_path / "Qwen2.5-1.5B-Instruct")}, ["a b"])


def test_a_missing_gguf_file_is_named(tmp_path):
    from r2_pipeline.pipelines.pretrained_backbone.nodes import convert_smollm2

    with pytest.raises(FileNotFoundError, match=r"pretrained_backbone.gguf .*model.gguf' is not a file"):
        convert_smollm2({"gguf": str(tmp_path / "model.gguf")})


def test_chars_tokenizer_keeps_frequent_numbers_whole():
    """`whole_numbers_below`: numbers of two or more digits below it are single tokens (each one a
    row the allocator can memorise); larger ones are spelled, so an unseen one is never <unk>."""
    from r2_pipeline.training.sft import load_backbone

    corpus = ["016+080=>t2", "345+016=>t4", "007*099=>t3"]
    spec = {"kind": "tiny", "tokenizer": "chars", "hidden_size": 8, "num_hidden_layers": 1,
            "num_attention_heads": 1, "max_position_embeddings": 32}
    _, spelled = load_backbone(spec, corpus)
    _, mixed = load_backbone({**spec, "whole_numbers_below": 100}, corpus)
    assert spelled.tokenize("345+016=>") == ["3", "4", "5", "+", "0", "1", "6", "=", ">"]
    assert mixed.tokenize("345+016=>") == ["3", "4", "5", "+", "016", "=", ">"]
    assert mixed.tokenize("999+050=>") == ["9", "9", "9", "+", "0", "5", "0", "=", ">"]  # 050 unseen: spelled
    assert mixed.unk_token_id not in mixed("999+050=>t3")["input_ids"]
    assert mixed.decode(mixed("007*099=>t3")["input_ids"]) == "007*099=>t3"


# ---------------------------------------------------------------- real benchmarks (paper profile)


@pytest.fixture(scope="module")
def gsm8k_tables():
    """data_generation's tables as the endpoint teacher leaves them: chosen plans and labelled steps
    of four short GSM8K-style questions (history = the evaluation member's earlier answers)."""
    questions = [("Tom has 3 pens and buys 4 more. How many pens does he have?", "7"),
                 ("Ann reads 5 pages a day for 2 days. How many pages?", "10"),
                 ("A box has 9 eggs and 2 break. How many are left?", "7"),
                 ("Sam earns 6 dollars and spends 1. How much is left?", "5")]
    plans = [["What numbers does the problem give?", "Using #1, what is the answer?"]] * 4
    scored = pd.DataFrame({
        "benchmark": "gsm8k", "id": [f"gsm8k-{i}" for i in range(4)], "question": [q for q, _ in questions],
        "answer": [json.dumps(a) for _, a in questions], "meta": "{}", "candidate": 0,
        "subtasks": [json.dumps(p) for p in plans], "chosen": True,
    })
    labels = pd.DataFrame([
        {"benchmark": "gsm8k", "id": f"gsm8k-{i}", "step": k, "subtask": plan[k], "question": q,
         "filled": plan[k].replace("#1", "3"), "history": json.dumps([] if k == 0 else [[plan[0], "3"]]),
         "label": ["t1", "t2"][(i + k) % 2]}
        for i, ((q, _), plan) in enumerate(zip(questions, plans)) for k in range(2)
    ])
    return scored, labels


@pytest.fixture(scope="module")
def benchmark_routers(gsm8k_tables, tmp_path_factory):
    from r2_pipeline.tasks.base import get_task

    scored, labels = gsm8k_tables
    task = get_task("gsm8k")
    out = tmp_path_factory.mktemp("benchmark_routers")
    dec_data = pd.DataFrame({"prompt": [task.decomposer_prompt(q) for q in scored["question"]],
                             "completion": [task.format_plan(json.loads(s)) for s in scored["subtasks"]]})
    alloc_data = pd.DataFrame({"prompt": [task.allocator_prompt(r.question, json.loads(r.history), r.filled)
                                          for r in labels.itertuples()], "completion": list(labels["label"])})
    backbone = {"kind": "tiny", "tokenizer": "words", "architecture": "gpt2", "hidden_size": 32,
                "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 128}
    # enough steps to memorise the four plans and the label, so sampling writes some valid ones
    long = {**TRAINER, "max_length": 120, "max_steps": 80, "learning_rate": 5e-3}
    dec, _ = fit_sft(dec_data, {"backbone": backbone, "trainer": long})
    alloc, _ = fit_sft(alloc_data, {"backbone": backbone, "trainer": long})
    return str(save_model(*dec, out / "decomposer")), str(save_model(*alloc, out / "allocator"))


def benchmark_rl_params() -> dict:
    params = rl_params()
    params["reviewer"] = {"member": "t1", "sampling": {"max_new_tokens": 2}}
    params["sampling"] = {"max_new_tokens": 4}
    params["decomposer"]["questions"] = params["allocator"]["questions"] = 4
    params["decomposer"]["trainer"] = {**params["decomposer"]["trainer"], "max_steps": 1}
    params["allocator"]["trainer"] = {**params["allocator"]["trainer"], "max_steps": 1, "temperature": 1.0}
    return params


@pytest.mark.integration
def test_grpo_on_a_real_benchmark_trains_each_phase_and_nothing_else(benchmark_routers, gsm8k_tables, tiny_member):
    """Both phases on GSM8K rows of data_generation's tables: plans graded by the benchmark, subtask
    answers judged by the reviewer; each phase changes only its own model."""
    from transformers import AutoModelForCausalLM

    decomposer, allocator = benchmark_routers
    scored, labels = gsm8k_tables
    frozen = folder_hash(decomposer), folder_hash(allocator), folder_hash(tiny_member)
    manifest, pool = two_member_pool(tiny_member)
    for phase, refine, folder in (("decomposer", refine_decomposer, decomposer),
                                  ("allocator", refine_allocator, allocator)):
        (model, _), curves = refine(decomposer, allocator, pd.DataFrame(), manifest, pool, benchmark_rl_params(),
                                    scored, labels)
        assert {"reward", "rewards/correctness/mean", "rewards/format/mean"} <= set(curves.columns), phase
        original = AutoModelForCausalLM.from_pretrained(folder).state_dict()
        assert any(not torch.equal(v, original[k]) for k, v in model.state_dict().items()), phase
    assert (folder_hash(decomposer), folder_hash(allocator), folder_hash(tiny_member)) == frozen


def two_member_pool(member: str) -> tuple[dict, dict]:
    """t1 and a dearer t2 (the same weights): the allocator's choice changes the cost reward."""
    manifest, pool = pool_params(member)
    manifest["t2"] = dict(manifest["t1"])
    pool["members"]["t2"] = dict(pool["members"]["t1"])
    pool["prices"]["t2"] = {**pool["prices"]["t1"], "input_per_m": 10.0, "output_per_m": 20.0}
    return manifest, pool


def test_the_allocator_phase_on_a_benchmark_needs_a_reviewer(gsm8k_tables, tiny_member):
    scored, labels = gsm8k_tables
    manifest, pool = pool_params(tiny_member)
    params = benchmark_rl_params()
    del params["reviewer"]
    with pytest.raises(ValueError, match="set rl_refinement.reviewer"):
        refine_allocator("unused", "unused", pd.DataFrame(), manifest, pool, params, scored, labels)


@pytest.mark.slow
def test_grpo_scores_a_left_padded_gpt2_row_as_if_unpadded(routers, tmp_path):
    """TRL left-pads the prompts and scores completions without position ids; a GPT-2 allocator
    (learned absolute positions) would number the padding too. With `positioned`, the
    log-probabilities of a padded row are those of the same row alone, which is what the model
    samples from and serves."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from r2_pipeline.pool.local import load_tokenizer
    from r2_pipeline.training.grpo import positioned

    allocator = routers[1]
    tokenizer = load_tokenizer(allocator)
    rows = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("3+4=>t1", "123+004=>t1")]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    short = int(mask[0].sum())
    assert short < width  # the first row is padded

    def scores(cls, input_ids, attention_mask):
        trainer = cls(model=AutoModelForCausalLM.from_pretrained(allocator), reward_funcs=[lambda **_: [0.0]],
                      args=GRPOConfig(output_dir=str(tmp_path), **GRPO), processing_class=tokenizer,
                      train_dataset=Dataset.from_dict({"prompt": ["3+4=>"] * 4}))
        with torch.no_grad():
            return trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention_mask, 2)[0]

    alone = scores(positioned(GRPOTrainer), ids[:1, width - short:], mask[:1, width - short:])
    assert torch.allclose(scores(positioned(GRPOTrainer), ids, mask)[0], alone[0], atol=1e-5)
    assert not torch.allclose(scores(GRPOTrainer, ids, mask)[0], alone[0], atol=1e-3)  # what TRL alone computes
