"""`pretrained_backbone`: SmolLM2-135M-Instruct (GGUF on PyPI) as a local HF folder for SFT with LoRA."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
