"""Parameter validation: bad values fail before any node runs, naming the key and the value."""

import copy
from pathlib import Path

import pytest
import yaml

from r2_pipeline.params import ParameterError, validate_params

BASE = Path(__file__).parents[1] / "conf" / "base"


def base_params() -> dict:
    params = {}
    for path in BASE.glob("parameters_*.yml"):
        params.update(yaml.safe_load(path.read_text()))
    params["pool"]["cache_path"] = "data/cache/calls.sqlite"  # the ${globals:} resolver is Kedro's
    return params


def test_base_parameters_are_valid():
    validated = validate_params(base_params())
    assert {"pool", "model_pool", "data_generation", "evaluation"} <= set(validated)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["pool"]["members"]["t1"].update(backend="carrier-pigeon"), r"pool\.members\.t1.*unknown backend 'carrier-pigeon'"),
        (lambda p: p["data_generation"]["world"]["sizes"].update(train=-5), r"data_generation\.world\.sizes\.train = -5"),
        (lambda p: p["data_generation"]["world"]["sizes"].update(test=0), r"data_generation\.world\.sizes\.test = 0"),
        (lambda p: p["pool"]["prices"].pop("t3"), r"members without a price: \['t3'\]"),
        (lambda p: p["pool"].update(ladder=["t1", "t2", "t3", "t5"]), r"pool\.ladder must list every member once"),
        (lambda p: p["model_pool"]["tiers"]["t2"].update(steps=0), r"model_pool\.tiers\.t2\.steps = 0"),
        (lambda p: p["data_generation"]["world"].update(min_steps=7), r"min_steps 7 > max_steps 6"),
        (lambda p: p["data_generation"]["world"].update(extra_train=-1), r"data_generation\.world\.extra_train = -1"),
        (lambda p: p["evaluation"].update(methods=[]), r"evaluation\.methods = \[\]"),
        (lambda p: p["pool"]["prices"]["t1"].update(output_per_m=-1), r"pool\.prices\.t1\.output_per_m = -1"),
        (lambda p: p["evaluation"].update(methods=["r3"]), r"evaluation\.methods\.0 = 'r3': unknown method 'r3'"),
        (lambda p: p["evaluation"]["router"].update(min_success=1.5), r"evaluation\.router\.min_success = 1\.5"),
        (lambda p: p["evaluation"]["router"].update(recheck_alpha=-0.1), r"evaluation\.router\.recheck_alpha = -0\.1"),
        (lambda p: p["rl_refinement"].update(min_success=0), r"rl_refinement\.min_success = 0"),
        # method specs: each bad field is named inside the entry it belongs to
        (lambda p: p["evaluation"].update(methods=[{"kind": "query_router", "threshold": "high"}]),
         r"evaluation\.methods\.0: query_router method: threshold = 'high': Input should be a valid number"),
        (lambda p: p["evaluation"].update(methods=["single", {"kind": "query_router", "threshold": 1.5}]),
         r"evaluation\.methods\.1: query_router method: threshold = 1\.5: Input should be less than or equal to 1"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "r2", "router": "r2_sft",
                                                   "decoding": {"rule": "cautious", "min_success": 0.9}}]),
         r"evaluation\.methods\.0: r2 method: decoding\.rule = 'cautious'"),
        (lambda p: p["evaluation"].update(methods=[{"router": "r2", "decoding": {"rule": "escalate", "min_success": 0}}]),
         r"r2 method: decoding\.min_success = 0: Input should be greater than 0"),
        (lambda p: p["evaluation"].update(methods=[{"router": "r2", "decoding": {"rule": "escalate"}}]),
         r"r2 method: decoding: rule 'escalate' needs min_success"),
        (lambda p: p["evaluation"].update(methods=[{"router": "r2", "decoding": {"rule": "greedy", "min_success": 0.9}}]),
         r"r2 method: decoding: rule 'greedy' reads no min_success"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "single", "member": "t5", "decoding": {"rule": "greedy"}}]),
         r"single method: decoding.*Extra inputs are not permitted"),
        # the trained routers follow from the same dict's rl_refinement.rounds
        (lambda p: p["rl_refinement"].update(rounds=2) or p["evaluation"].update(
            methods=[{"kind": "r2", "router": "r2_round_3"}]),
         r"'r2_round_3' names no trained router: 'r2_round_3'; routers: \['r2_sft', 'r2_decomposer_phase', 'r2_round_1', "
         r"'r2_round_2', 'r2_sweep_1', 'r2_sweep_2', 'r2'\] \(one r2_round_<k> per rl_refinement\.rounds\)"),
        (lambda p: p["evaluation"].update(methods=["r2_round_7"]), r"unknown method 'r2_round_7'.*trained router"),
        (lambda p: p["rl_refinement"].update(rounds=0), r"rl_refinement\.rounds = 0"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "banana"}]), r"evaluation\.methods\.0: unknown method kind 'banana'"),
        (lambda p: p["evaluation"].update(methods=[{"name": "mine"}]), r"method \{'name': 'mine'\} needs `kind`"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "single", "name": "big"}]),
         r"name 'big' labels one method, but without `member`"),
        (lambda p: p["evaluation"].update(methods=[3]), r"evaluation\.methods\.0"),
        (lambda p: p["evaluation"]["router"].update(rule="bold"), r"evaluation\.router\.rule = 'bold'"),
        (lambda p: p["evaluation"]["router"].update(rule="escalate", min_success=None),
         r"evaluation\.router.*rule 'escalate' needs min_success"),
        (lambda p: p["rl_refinement"].update(rule="escalate", min_success=None),
         r"rl_refinement.*rule 'escalate' needs min_success"),
        (lambda p: p["evaluation"].update(methods=[{"router": "r2_sft", "recheck": {"tau": 1.5}}]),
         r"r2 method: recheck\.tau = 1\.5"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "oracle", "recheck": {"tau": 0.5}}]),
         r"oracle method: recheck.*Extra inputs are not permitted"),
        # values a node would fail on later, after minutes of training, or silently train nothing with
        (lambda p: p["rl_refinement"]["decomposer"].update(questions=3),
         r"rl_refinement\.decomposer.*questions 3: one generation batch .* takes 4 distinct prompts"),
        (lambda p: p["allocator_sft"]["backbone"].update(max_position_embeddings=8),
         r"allocator_sft.*trainer\.max_length 32 must be set and at most backbone\.max_position_embeddings 8"),
        (lambda p: p["allocator_sft"]["trainer"].pop("max_length"), r"trainer\.max_length None must be set"),
        (lambda p: p["model_pool"].pop("tiers"), r"model_pool\.tiers.*Field required"),
        (lambda p: p["pool"]["members"]["t1"].update(batch_size=0), r"pool\.members\.t1.*batch_size = 0 must be a positive"),
        # the oracle needs exact subtask answers and the query router micro-world outcomes: on another
        # benchmark one would crash after the methods before it had been paid, the other mean nothing
        (lambda p: p["evaluation"]["benchmarks"].update(gsm8k={"limit": 5}),
         r"benchmark 'gsm8k' runs method 'oracle', which runs on the micro benchmark only"),
        (lambda p: p["evaluation"]["benchmarks"].update(gsm8k={"methods": [
            "single", {"name": "query_router@0.7", "kind": "query_router", "threshold": 0.7}]}),
         r"'query_router@0\.7', which runs on the micro benchmark only: it is fitted on the members' outcomes"),
        (lambda p: p["evaluation"]["benchmarks"].update(gsm8k={"methods": ["r3"]}),
         r"evaluation\.benchmarks\.gsm8k\.methods\.0 = 'r3': unknown method 'r3'"),
        (lambda p: p["evaluation"].update(sampling={"stop": [""]}), r"evaluation\.sampling.*empty string"),
        # the trained routers follow from rl_refinement.rounds and SWEEP_POINTS
        (lambda p: p["rl_refinement"].update(rounds=2) or p["evaluation"].update(routers=["r2_sft", "r2"]),
         r"parameter evaluation: `routers` is not a parameter: the trained routers are \['r2_sft', 'r2_decomposer_phase', 'r2_round_1', "
         r"'r2_round_2', 'r2_sweep_1', 'r2_sweep_2', 'r2'\], one per GRPO round \(rl_refinement\.rounds\) and sweep slot "
         r"\(SWEEP_POINTS in pipelines/rl_refinement/rounds\.py\)"),
        # a member nobody trains would only fail after model_pool had retrained and overwritten the pool
        (lambda p: p["pool"]["members"].update(t6={"backend": "transformers"}) or p["pool"]["prices"].update(
            t6=p["pool"]["prices"]["t5"]), r"pool members \['t6'\] use the transformers backend without a `path`"),
        (lambda p: p["pool"]["members"]["t1"].update(batchsize=8), r"pool\.members\.t1.*does not take: \['batchsize'\]"),
        (lambda p: p["pool"]["members"].update(api={"backend": "openai", "base_url": "localhost:8000/v1", "model": "m"})
         or p["pool"]["prices"].update(api=p["pool"]["prices"]["t5"]), r"base_url 'localhost:8000/v1' must start with http"),
        (lambda p: p["pool"]["members"].update(api={"backend": "openai", "base_url": "http://h/v1", "model": "m",
                                                    "tokens_per_minute": 0})
         or p["pool"]["prices"].update(api=p["pool"]["prices"]["t5"]), r"pool\.members\.api.*tokens_per_minute = 0 must be a positive"),
        (lambda p: p["model_pool"]["tiers"]["t3"].update(buckets=[1, 8]), r"buckets \[8\] are not micro-world buckets"),
        (lambda p: p["model_pool"]["tiers"]["t3"].update(num_attention_heads=5), r"hidden_size 96 is not a multiple of num_attention_heads 5"),
        (lambda p: p["data_generation"]["allocation"].update(alpha=1.5), r"data_generation\.allocation\.alpha = 1\.5"),
        (lambda p: p["data_generation"]["allocation"].update(thresholds=[0.7, 0.95]), r"thresholds must be descending"),
        (lambda p: p["data_generation"]["allocation"].update(start_tiers=[0, -1, 4]), r"start_tiers are ladder indices"),
        (lambda p: p["data_generation"]["allocation"].update(start_tiers=[0, 2, 5]), r"indices \[5\] are beyond the ladder of 5 members"),
        (lambda p: p["data_generation"]["allocation"].update(start_tiers=[0, 4]), r"needs one tier per threshold plus one"),
        (lambda p: p["data_generation"]["allocation"].update(baseline="t9"), r"data_generation\.allocation\.baseline = 't9': not a pool member"),
        (lambda p: p["data_generation"]["allocation"].update(tries=0), r"data_generation\.allocation\.tries = 0"),
        (lambda p: p["data_generation"]["allocation"].update(accept_share=0), r"data_generation\.allocation\.accept_share = 0"),
        (lambda p: p["data_generation"]["decomposition"].update(evaluation_member="gpt"), r"evaluation_member = 'gpt': not a pool member"),
        (lambda p: p["data_generation"]["teacher"].update(kind="oracle"), r"data_generation\.teacher\.kind = 'oracle'"),
        (lambda p: p["data_generation"].update(alocation={}), r"data_generation\.alocation.*Extra inputs are not permitted"),
        (lambda p: p["data_generation"].update(teacher={"kind": "endpoint", "variants": 2, "member": "t5", "few_shot": 3,
                                                         "benchmarks": {"gsm8k": {"split": "train"}}}),
         r"an endpoint teacher's subtasks have no exact answer: set allocation\.reviewer"),
        (lambda p: p["data_generation"].update(teacher={"kind": "endpoint", "variants": 2, "member": "t5", "few_shot": 3}),
         r"an endpoint teacher needs `benchmarks`"),
        # the teacher samples with teacher.sampling and runs no methods: these would be silently unused
        (lambda p: p["data_generation"].update(teacher={"kind": "endpoint", "variants": 2, "member": "t5", "few_shot": 3,
                                                         "benchmarks": {"gsm8k": {"split": "train", "methods": ["r2"]}}}),
         r"data_generation\.teacher\.benchmarks\.gsm8k\.methods.*Extra inputs are not permitted"),
        (lambda p: p["data_generation"].update(teacher={"kind": "endpoint", "variants": 2, "member": "t5",
                                                         "benchmarks": {"gsm8k": {"split": "train"}}}),
         r"an endpoint teacher needs `few_shot` >= 1"),
        (lambda p: p["data_generation"].update(teacher={"kind": "endpoint", "variants": 2, "member": "t5", "few_shot": 3,
                                                         "benchmarks": {"gsm8k": {"limit": 5}}}),
         r"teacher benchmarks \['gsm8k'\] need `split`, a training split"),
        (lambda p: p["data_generation"].update(teacher={"kind": "endpoint", "variants": 2, "member": "t5", "few_shot": 3,
                                                         "benchmarks": {"gsm9k": {"split": "train"}}}),
         r"teacher benchmarks \['gsm9k'\] are not real benchmarks"),
        (lambda p: p["data_generation"]["allocation"].update(reviewer={"member": "t5"}) or p["data_generation"].update(
            teacher={"kind": "endpoint", "variants": 2, "member": "t5", "few_shot": 3, "benchmarks": {"gsm8k": {"split": "train"}}}),
         r"rl_refinement\.reviewer is missing: with an endpoint teacher"),
        (lambda p: p["rl_refinement"].update(fallback="t7"), r"rl_refinement\.fallback = 't7': not a pool member"),
        (lambda p: p["evaluation"]["router"].update(fallback="t0"), r"evaluation\.router\.fallback = 't0': not a pool member"),
        (lambda p: p["evaluation"]["query_router"].update(threshold=2), r"evaluation\.query_router\.threshold = 2"),
        (lambda p: p["evaluation"]["router"].update(min_sucess=0.9), r"evaluation\.router\.min_sucess.*Extra inputs"),
        (lambda p: p["allocator_sft"]["backbone"].update(tokenizer="bytes"), r"allocator_sft\.backbone\.tokenizer = 'bytes'"),
        (lambda p: p["decomposer_sft"]["backbone"].update(num_attention_heads=3), r"hidden_size 128 is not a multiple of num_attention_heads 3"),
        (lambda p: p["decomposer_sft"]["backbone"].update(kind="pretrained"), r"a pretrained backbone needs `path`"),
        (lambda p: p["decomposer_sft"]["backbone"].update(dropout=1.0), r"decomposer_sft\.backbone\.dropout = 1\.0"),
        (lambda p: p["pretrained_backbone"].pop("gguf"), r"pretrained_backbone\.gguf.*Field required"),
        (lambda p: p["data_generation"]["decomposition"]["weights"].pop("coherence"),
         r"data_generation\.decomposition\.weights\.coherence.*Field required"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "single", "member": "t9"}, "r2"]),
         r"evaluation\.methods: 'single:t9' names no pool member"),
        (lambda p: p["evaluation"]["benchmarks"]["micro"].update(methods=[{"kind": "tier", "member": "t0"}]),
         r"evaluation\.methods: 'tier:t0' names no pool member"),
        (lambda p: p["evaluation"].update(methods=["single:t5"]), r"unknown method 'single:t5'.*\{kind: single, member"),
        # a method run twice would count its questions and its cost twice (and halve every vs-t5 ratio)
        (lambda p: p["evaluation"].update(methods=["single", {"kind": "single", "member": "t5"}, "r2"]),
         r"evaluation \(micro\): methods \['single:t5'\] are listed twice"),
        (lambda p: p["evaluation"].update(methods=["r2", "r2_sft", "r2"]), r"methods \['r2'\] are listed twice"),
        # one reading under two names: r2_sft is read at evaluation.router's 0.93
        (lambda p: p["evaluation"].update(methods=["r2_sft", {"name": "r2_sft@0.93", "router": "r2_sft",
                                                              "decoding": {"min_success": 0.93}}]),
         r"evaluation \(micro\): methods 'r2_sft' and 'r2_sft@0\.93' are one reading"),
        (lambda p: p["evaluation"].update(methods=[{"name": "a", "kind": "query_router", "threshold": 0.5},
                                                   {"name": "b", "kind": "query_router", "threshold": 0.50}]),
         r"methods 'a' and 'b' are one reading"),
        # a name is one method everywhere: metrics, plot and comparisons know methods by name
        (lambda p: p["evaluation"]["benchmarks"].update(gsm8k={"methods": [{"name": "r2", "router": "r2_sft"}]}),
         r"parameter evaluation: method name 'r2' stands for two methods on different benchmarks "
         r"\(benchmarks\.gsm8k\.methods\)"),
        (lambda p: p["evaluation"].update(methods=[{"kind": "random", "member": "t3"}]),
         r"random method: member = 't3': Extra inputs are not permitted"),
        (lambda p: p["evaluation"]["benchmarks"]["micro"].update(split="validation"),
         r"benchmarks\.micro\.split = 'validation': the micro benchmark reads a table, not a split"),
        # keys nodes read directly have no default: leaving one out fails here, not in the node
        (lambda p: p["model_pool"].pop("seed"), r"model_pool\.seed.*Field required"),
        (lambda p: p["data_generation"].pop("teacher"), r"data_generation\.teacher.*Field required"),
        (lambda p: p["data_generation"]["teacher"].pop("variants"), r"data_generation\.teacher\.variants.*Field required"),
        (lambda p: p["rl_refinement"]["allocator"].pop("seed"), r"rl_refinement\.allocator\.seed.*Field required"),
        (lambda p: p["evaluation"]["comparisons"].update(pairs=[["r2", "query_router@0.6"]]),
         r"evaluation\.comparisons pair \['r2', 'query_router@0\.6'\]: \['query_router@0\.6'\] not among"),
        (lambda p: p["evaluation"]["comparisons"].update(pairs=[["r2"]]), r"evaluation\.comparisons\.pairs\.0"),
        (lambda p: p["evaluation"]["comparisons"].update(confidence=95), r"evaluation\.comparisons\.confidence = 95"),
        # trainer values TRL and torch would meet only mid-run
        (lambda p: p["rl_refinement"]["decomposer"]["trainer"].update(per_device_train_batch_size=0),
         r"rl_refinement\.decomposer\.trainer\.per_device_train_batch_size = 0"),
        (lambda p: p["rl_refinement"]["allocator"]["trainer"].update(num_generations="4"),
         r"rl_refinement\.allocator\.trainer\.num_generations = '4': Input should be a valid integer"),
        (lambda p: p["decomposer_sft"]["trainer"].update(learning_rate="3e-4"),
         r"decomposer_sft\.trainer\.learning_rate = '3e-4': a string, not a number.*write 3\.0e-4"),
        (lambda p: p["allocator_sft"]["trainer"].update(learning_rate=-1e-3),
         r"allocator_sft\.trainer\.learning_rate = -0\.001: must be a number above 0"),
        (lambda p: p["allocator_sft"]["trainer"].update(max_steps=0), r"allocator_sft\.trainer\.max_steps = 0: 0 steps"),
        # seeds every generator takes, with room for the offsets added to them
        (lambda p: p["rl_refinement"]["decomposer"].update(seed=-1), r"rl_refinement\.decomposer\.seed = -1"),
        (lambda p: p["decomposer_sft"]["trainer"].update(seed=-1), r"decomposer_sft\.trainer\.seed = -1"),
        (lambda p: p["evaluation"]["comparisons"].update(seed=-1), r"evaluation\.comparisons\.seed = -1"),
        (lambda p: p["evaluation"].update(seeds=[0, 2**40]), r"evaluation\.seeds\.1 = 1099511627776"),
        (lambda p: p["model_pool"].update(seed=-3), r"model_pool\.seed = -3"),
        # a tiny router's positions leave its prompt room for the tokens it may write
        (lambda p: p["evaluation"].setdefault("router", {}).update(sampling={"max_new_tokens": 224}),
         r"evaluation\.router\.sampling\.max_new_tokens = 224: decomposer_sft\.backbone\.max_position_embeddings is 224"),
        (lambda p: p["allocator_sft"]["backbone"].update(max_position_embeddings=4) or p["allocator_sft"]["trainer"].update(max_length=4),
         r"evaluation\.router\.allocator_sampling\.max_new_tokens = 4: allocator_sft\.backbone"),
        # a micro member's answer (a compound's working, its result, the end token) must fit
        (lambda p: p["evaluation"].update(sampling={"max_new_tokens": 3}),
         r"evaluation\.sampling\.max_new_tokens = 3: a micro member writes up to 4 tokens"),
        (lambda p: p["evaluation"]["benchmarks"]["micro"].update(sampling={"max_new_tokens": 2}),
         r"evaluation\.benchmarks\.micro\.sampling\.max_new_tokens = 2"),
        # a misspelt block (`--params evalution.cost_lambda=1`) would leave the real one unchanged
        (lambda p: p.update(evalution={"cost_lambda": 1.0}),
         r"parameter evalution: no pipeline reads a block of this name; did you mean 'evaluation'\?"),
        (lambda p: p["pool"].pop("router_member") and p["pool"]["prices"].pop("router"),
         r"pool\.router_member is not set: evaluation methods \[.*'r2'.*\] and rl_refinement run the trained router"),
    ],
)
def test_bad_values_name_key_and_value(edit, message):
    params = copy.deepcopy(base_params())
    edit(params)
    with pytest.raises(ParameterError, match=message):
        validate_params(params)


def test_a_pool_trained_without_working_needs_only_a_results_tokens():
    params = copy.deepcopy(base_params())
    params["model_pool"]["compound_working"] = False
    params["evaluation"]["sampling"] = {"max_new_tokens": 4}
    validate_params(params)
    params["model_pool"]["compound_working"] = True
    with pytest.raises(ParameterError, match=r"max_new_tokens = 4: a micro member writes up to 8 tokens.*working"):
        validate_params(params)
    params["model_pool"]["compound_working"] = False
    tier = next(iter(params["model_pool"]["tiers"]))
    params["model_pool"]["tiers"][tier]["compound_working"] = True  # one tier's own setting counts
    with pytest.raises(ParameterError, match=rf"up to 8 tokens.*tiers showing working: \['{tier}'\]"):
        validate_params(params)


@pytest.mark.integration
def test_kedro_session_refuses_bad_parameters(tmp_path):
    """Through Kedro itself: the hook stops the run before any node."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = Path(__file__).parents[1]
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="test", runtime_params={"data_generation": {"world": {"sizes": {"train": -3}}}}) as session:
        with pytest.raises(ParameterError, match=r"sizes\.train = -3"):
            session.load_context()


def test_block_level_errors_do_not_print_the_whole_block():
    params = copy.deepcopy(base_params())
    params["data_generation"]["world"].update(min_steps=7)
    with pytest.raises(ParameterError) as err:
        validate_params(params)
    assert "parameter data_generation.world: " in str(err.value)
    assert "bucket_weights" not in str(err.value)  # the block's other keys are not dumped


@pytest.mark.parametrize("env", ["test", "paper"])
def test_every_profile_is_valid(env):
    from kedro.config import OmegaConfigLoader

    from r2_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(conf_source=str(BASE.parent), env=env, **CONFIG_LOADER_ARGS)
    assert validate_params(loader["parameters"])


def test_the_test_profile_writes_apart_from_the_micro_artifacts():
    """`kedro run --env test` in a checkout must not overwrite data/06_models and the other outputs."""
    from kedro.config import OmegaConfigLoader

    from r2_pipeline.settings import CONFIG_LOADER_ARGS

    paths = {env: OmegaConfigLoader(conf_source=str(BASE.parent), env=env, **CONFIG_LOADER_ARGS)["globals"]["paths"]
             for env in ("base", "test")}
    assert set(paths["test"]) == set(paths["base"])
    assert not set(paths["test"].values()) & set(paths["base"].values())


def test_whole_numbers_only_with_the_chars_tokenizer():
    params = copy.deepcopy(base_params())
    params["allocator_sft"]["backbone"]["whole_numbers_below"] = 100
    assert validate_params(params)
    params["decomposer_sft"]["backbone"]["whole_numbers_below"] = 100  # words_digits
    with pytest.raises(ParameterError, match="whole_numbers_below applies to the chars tokenizer only"):
        validate_params(params)


def test_sampling_blocks_take_stop_sequences():
    params = copy.deepcopy(base_params())
    params["evaluation"]["router"]["sampling"]["stop"] = ["\n\n"]
    assert validate_params(params)["evaluation"].router.sampling.stop == ["\n\n"]


def test_an_explicit_ladder_orders_the_pool():
    """By price, a member dearer per output token but far cheaper per input token sorts dearer;
    `pool.ladder` states the order instead."""
    from r2_pipeline.pool.factory import ladder_order

    pool = base_params()["pool"]
    assert ladder_order(pool) == ["t1", "t2", "t3", "t4", "t5"]
    pool["prices"]["t4"] = {**pool["prices"]["t4"], "output_per_m": pool["prices"]["t5"]["output_per_m"] * 2}
    assert ladder_order(pool) == ["t1", "t2", "t3", "t5", "t4"]
    pool["ladder"] = ["t1", "t2", "t3", "t4", "t5"]
    validate_params({"pool": pool})
    assert ladder_order(pool) == ["t1", "t2", "t3", "t4", "t5"]
    with pytest.raises(ValueError, match="pool.ladder must list every member once"):
        ladder_order({**pool, "ladder": ["t1", "t1", "t3", "t4", "t5"]})


@pytest.mark.parametrize("settings", [
    {"per_device_train_batch_size": 16, "num_generations": 4},
    {"per_device_train_batch_size": 6, "num_generations": 4},
    {"per_device_train_batch_size": 4, "num_generations": 8, "gradient_accumulation_steps": 2},
    {"per_device_train_batch_size": 4, "num_generations": 8, "steps_per_generation": 3},
    {"per_device_train_batch_size": 4, "num_generations": 8, "generation_batch_size": 16},
    {"per_device_train_batch_size": 4, "num_generations": 8, "generation_batch_size": 12},
    {"per_device_train_batch_size": 8, "num_generations": 4, "generation_batch_size": 12},
    {"per_device_train_batch_size": 8, "num_generations": 1},
])
def test_grpo_group_check_agrees_with_trl(settings, tmp_path):
    """The GRPO phase's settings are refused here exactly when TRL's GRPOConfig would refuse them
    (on one process), before the phase has sampled any rollout."""
    from trl import GRPOConfig

    try:
        GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, report_to=[], **settings)
        trl_accepts = True
    except ValueError:
        trl_accepts = False
    params = base_params()
    params["rl_refinement"]["decomposer"]["trainer"] = {**params["rl_refinement"]["decomposer"]["trainer"], **settings}
    try:
        validate_params(params)
        accepted = True
    except ParameterError as error:
        assert "rl_refinement.decomposer" in str(error)
        accepted = False
    assert accepted == trl_accepts


def test_an_objective_at_another_lambda_than_r2s_is_flagged(caplog):
    params = copy.deepcopy(base_params())
    params["evaluation"]["cost_lambda"] = 0.3
    validate_params(params)
    assert "evaluation.cost_lambda = 0.3 differs from rl_refinement.cost_lambda = 0.5" in caplog.text
