"""Pydantic model of the `rl_refinement` block: the GRPO phases of each round, their rewards, their
rollouts on vLLM, and the cost lambdas of the main router and of the sweep."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveInt,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ...methods.decoding import rule_needs_threshold
from ...pool.params import SamplingBlock, Seed, Strict
from ...training.params import Positive, TrainerBlock, under
from ..data_generation.params import ReviewerParams
from .rounds import ROUNDS, SWEEP_POINTS

Port = Annotated[int, Field(strict=True, ge=1, le=65535)]

# GRPOConfig's vLLM keys that one mode reads and the other ignores without a word, with where the
# setting belongs instead
SERVER_ONLY = ("vllm_server_base_url", "vllm_server_host", "vllm_server_port", "vllm_server_timeout",
               "vllm_group_port")
COLOCATE_ONLY = {
    "vllm_gpu_memory_utilization": "pass --gpu_memory_utilization to `trl vllm-serve`",
    "vllm_tensor_parallel_size": "pass --tensor_parallel_size to `trl vllm-serve`",
    "vllm_max_model_length": "pass --max_model_len to `trl vllm-serve`",
    "vllm_model_impl": "pass --vllm_model_impl to `trl vllm-serve`",
    "vllm_enable_sleep_mode": "the server's memory is its own",
}
# transformers-generation keys that use_vllm makes TRL skip
TRANSFORMERS_ONLY = ("use_transformers_continuous_batching", "use_transformers_paged", "cache_implementation")


class VLLMRollouts(BaseModel):
    """TRL's vLLM keys of a GRPO `trainer` block (GRPOConfig fields, passed through unchanged), typed
    as TRL reads them. A set that TRL would ignore in part, or reject only once the phase starts (or,
    for some, deep in training), is refused here, naming the key."""

    model_config = ConfigDict(extra="allow")  # the block's other keys: known_fields checks them
    use_cpu: StrictBool = False
    use_vllm: StrictBool = False
    vllm_mode: Literal["server", "colocate"] = "colocate"  # TRL's default
    vllm_server_base_url: str | None = None
    vllm_server_host: str | None = None
    vllm_server_port: Port | None = None
    vllm_server_timeout: Annotated[float, Field(strict=True, gt=0)] | None = None
    vllm_group_port: Port | None = None
    vllm_gpu_memory_utilization: Annotated[float, Field(strict=True, gt=0, le=1)] | None = None
    vllm_tensor_parallel_size: Positive | None = None
    vllm_max_model_length: Positive | None = None
    vllm_enable_sleep_mode: StrictBool | None = None
    vllm_model_impl: Literal["vllm", "transformers"] | None = None
    # TRL checks the mode only once the first rollouts are sampled, when it weighs them
    vllm_importance_sampling_mode: Literal["token_truncate", "token_mask", "sequence_truncate", "sequence_mask"] = (
        "sequence_mask")
    vllm_importance_sampling_clip_min: float | None = None
    vllm_importance_sampling_clip_max: float | None = 3.0
    max_completion_length: Positive | None = 512

    @field_validator("vllm_server_base_url")
    @classmethod
    def server_root(cls, url: str | None) -> str | None:
        """TRL appends /health, /v1/models and its weight-sync routes to the URL itself: after `/v1`
        (as the pool's OpenAI-compatible URLs end) or a trailing slash they answer 404, on which
        TRL's client waits for the server forever."""
        if url is None:
            return url
        TypeAdapter(AnyHttpUrl).validate_python(url)  # http(s), with a host
        path = urlsplit(url).path
        if path.endswith("/") or path.endswith("/v1"):
            raise ValueError("the server's root URL, http://host:port, without `/v1` or a trailing slash: TRL "
                             "appends its routes (/health, /v1/models) itself")
        return url

    @field_validator("vllm_server_host")
    @classmethod
    def bare_host(cls, host: str | None) -> str | None:
        """TRL builds http://{host}:{port}: a scheme, port or path in the host makes a URL it cannot reach."""
        if host is not None and (not host or any(c in host for c in ":/")):
            raise ValueError("a host name or IPv4 address, without scheme, port or path (TRL adds them); a full "
                             "URL goes in vllm_server_base_url")
        return host

    @model_validator(mode="wrap")
    @classmethod
    def consistent(cls, given: Any, handler):
        """Each key's type first, then what the keys say together; errors show values as written."""
        self = handler(given)
        self.check(given)
        return self

    def check(self, given: dict[str, Any]) -> None:
        if not self.use_vllm:
            refuse(given, sorted(k for k in given if k.startswith("vllm_")),
                   "TRL reads vLLM keys only with use_vllm: true, and ignores this one")
            return
        if self.use_cpu:
            refuse(given, ["use_vllm"], "vLLM generates on GPUs: use_vllm needs use_cpu: false")
        refuse(given, [k for k in TRANSFORMERS_ONLY if given.get(k)],
               "applies to transformers generation, which use_vllm replaces: TRL ignores it")
        if self.vllm_mode == "server":
            self.server_settings(given)
        else:
            self.colocate_settings(given)
        low, high = self.vllm_importance_sampling_clip_min, self.vllm_importance_sampling_clip_max
        if low is not None and high is not None and low >= high:
            refuse(given, ["vllm_importance_sampling_clip_min"],
                   f"must be below vllm_importance_sampling_clip_max {high} (GRPOConfig refuses it)")

    def server_settings(self, given: dict[str, Any]) -> None:
        """One server, named explicitly: its URL, or its host and port. TRL's defaults, 0.0.0.0:8000,
        name whatever listens on port 8000 of this machine (in conf/paper, the pool's first member's
        port), not a server chosen for the phase."""
        for key in (k for k in COLOCATE_ONLY if k in given):
            refuse(given, [key], f"applies to vllm_mode 'colocate' only: TRL ignores it in server mode; "
                                 f"{COLOCATE_ONLY[key]}")
        if self.vllm_server_base_url is not None:
            refuse(given, [k for k in ("vllm_server_host", "vllm_server_port") if k in given],
                   "TRL ignores it when vllm_server_base_url is set: keep one of the two")
        elif self.vllm_server_host is None or self.vllm_server_port is None:
            missing = "vllm_server_base_url" if self.vllm_server_host is None else "vllm_server_port"
            refuse(given, [missing], "vllm_mode 'server' needs the `trl vllm-serve` server of this phase: "
                                     "vllm_server_base_url (http://host:port), or vllm_server_host and "
                                     "vllm_server_port")

    def colocate_settings(self, given: dict[str, Any]) -> None:
        refuse(given, [k for k in SERVER_ONLY if k in given],
               "applies to vllm_mode 'server' only: TRL ignores it in colocate mode")
        length, completion = self.vllm_max_model_length, self.max_completion_length
        if length is not None and completion is not None and length <= completion:
            refuse(given, ["vllm_max_model_length"], f"must exceed max_completion_length {completion}: the "
                                                     "context holds the prompt and the completion")


def refuse(given: dict[str, Any], keys: list[str], why: str) -> None:
    """One error per key, located at the key of the trainer block, so that each message names the
    full key (rl_refinement.<phase>.trainer.<key>) whichever keys the check reads. A key the block
    leaves out is shown without a value."""
    if keys:
        error = PydanticCustomError("vllm_settings", "{why}", {"why": why})
        raise ValidationError.from_exception_data("trainer", [
            InitErrorDetails(type=error, loc=(key,), input=given.get(key, given)) for key in keys])


class GRPOPhase(TrainerBlock):
    config_class: ClassVar[str] = "GRPOConfig"
    questions: PositiveInt
    seed: Seed
    # allocator phase: subtasks from the frozen decomposer's plans, or from the teacher's
    subtasks: Literal["decomposer", "teacher"] = "decomposer"

    @model_validator(mode="after")
    def vllm_rollouts(self):
        """After known_fields, so that a misspelt key is reported as such."""
        try:
            VLLMRollouts.model_validate(self.trainer)
        except ValidationError as err:
            raise under(err, "trainer") from None
        return self

    @model_validator(mode="after")
    def whole_groups(self):
        """TRL's rule, on one process: the generation batch (per_device_train_batch_size x
        steps_per_generation, which defaults to gradient_accumulation_steps; or generation_batch_size)
        holds whole groups of num_generations completions. Checked here, before the phase's rollouts."""
        from ...training.grpo import generation_batch

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
    # GRPO rounds, each a decomposer phase then an allocator phase; the DAG unrolls them as
    # namespaces round_1..N (routers r2_round_<k>), for r2 and for every sweep slot
    rounds: int = Field(default=ROUNDS, ge=1)
    cost_lambda: float = Field(ge=0)
    # one lambda per sweep slot (SWEEP_POINTS in pipelines/rl_refinement/rounds.py): router
    # r2_sweep_<i> trains every round at the i-th
    lambda_sweep: list[NonNegativeFloat] | None = Field(default=None, validate_default=True)
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

    @field_validator("lambda_sweep")
    @classmethod
    def one_lambda_per_slot(cls, sweep: list[float] | None, info: ValidationInfo) -> list[float]:
        main = info.data.get("cost_lambda")
        rule = (f"lambda_sweep must list SWEEP_POINTS = {SWEEP_POINTS} distinct lambdas, none equal to cost_lambda "
                f"{main} (SWEEP_POINTS, the number of sweep routers r2_sweep_<i>, is set in "
                "pipelines/rl_refinement/rounds.py: the registry needs it before parameters load)")
        if sweep is None:
            raise ValueError(f"lambda_sweep is missing: {rule}")
        if len(sweep) != SWEEP_POINTS or len(set(sweep)) != len(sweep) or main in sweep:
            raise ValueError(rule)
        return sweep

    @model_validator(mode="after")
    def threshold_for_rule(self):
        rule_needs_threshold(self.rule, self.min_success)
        return self
