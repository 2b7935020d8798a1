"""`allocator_sft`: supervised fine-tuning of the allocator (TRL SFTTrainer, optional LoRA)."""

__all__ = ["create_pipeline"]


def __getattr__(name: str):
    """`create_pipeline`, imported on first use: the nodes import the libraries they train, evaluate
    or plot with, and every `kedro` start imports the pipelines' parameter schemas (r2_pipeline.params)."""
    if name == "create_pipeline":
        from .pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
