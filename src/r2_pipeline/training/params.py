"""Pydantic models of the SFT blocks (`decomposer_sft`, `allocator_sft`): TRL/PEFT settings and the backbone."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..pool.params import Seed, Strict, StrictSeed
from .config_fields import config_fields


class TrainerBlock(Strict):
    """`trainer` and `lora` pass through unchanged to a TRL config class and to LoraConfig."""

    config_class: ClassVar[str]
    lora: dict[str, Any] | None = None
    trainer: dict[str, Any]

    @model_validator(mode="after")
    def known_fields(self):
        _check_fields(self.trainer, "trl", self.config_class, "trainer")
        try:
            TrainerTypes.model_validate(self.trainer)
        except ValidationError as err:
            raise under(err, "trainer") from None
        if self.lora:
            _check_fields(self.lora, "peft", "LoraConfig", "lora")
        return self


# a whole number of at least 1, as written (a batch, a length, a count of GPUs)
Positive = Annotated[StrictInt, Field(ge=1)]


class TrainerTypes(BaseModel):
    """The types of the `trainer` keys whose bad values TRL and torch would meet only mid-run (a batch
    of 0 divides by zero; YAML reads `3e-4`, with no dot, as text, which AdamW compares with a float
    at its first step); the block passes through unchanged, so these are checked, not converted."""

    model_config = ConfigDict(extra="allow")  # the other keys: known_fields checks their names
    per_device_train_batch_size: Positive | None = None
    gradient_accumulation_steps: Positive | None = None
    num_generations: Positive | None = None
    generation_batch_size: Positive | None = None
    steps_per_generation: Positive | None = None
    max_length: Positive | None = None
    max_completion_length: Positive | None = None
    # -1: train num_train_epochs instead (transformers' default); 0 trains 3 epochs, silently
    max_steps: Annotated[StrictInt, Field(ge=-1)] | None = None
    learning_rate: Any = None
    seed: StrictSeed | None = None

    @field_validator("learning_rate")
    @classmethod
    def a_positive_number(cls, rate: Any) -> Any:
        if isinstance(rate, str):
            raise ValueError("a string, not a number: YAML reads an exponent without a dot (3e-4) as text; "
                             "write 3.0e-4")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0):
            raise ValueError("must be a number above 0")
        return rate

    @field_validator("max_steps")
    @classmethod
    def some_steps(cls, steps: int | None) -> int | None:
        if steps == 0:
            raise ValueError("0 steps: transformers would train num_train_epochs instead; give a number of steps, "
                             "or -1 for epochs")
        return steps


def under(err: ValidationError, *prefix: str) -> ValidationError:
    """`err` with each error's location under `prefix`, so a message names the full key."""
    return ValidationError.from_exception_data(err.title, [
        InitErrorDetails(type=PydanticCustomError(e["type"], "{why}", {"why": e["msg"].removeprefix("Value error, ")}),
                         loc=(*prefix, *e["loc"]), input=e["input"])
        for e in err.errors()])


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
    seed: Seed = 0

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
        heads_divide(self.hidden_size, self.num_attention_heads)
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
    unknown = sorted(set(block) - config_fields(module, cls))
    if unknown:
        raise ValueError(f"{key} has keys that are not {cls} fields: {unknown}")


def heads_divide(hidden_size: int, heads: int) -> None:
    if hidden_size % heads:
        raise ValueError(f"hidden_size {hidden_size} is not a multiple of num_attention_heads {heads}")
