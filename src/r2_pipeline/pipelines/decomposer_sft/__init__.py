"""`decomposer_sft`: supervised fine-tuning of the decomposer (TRL SFTTrainer, optional LoRA)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
