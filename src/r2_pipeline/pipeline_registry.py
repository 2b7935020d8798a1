"""Project pipelines: one registry key per pipeline folder, `__default__` composed explicitly. A
`kedro run --pipelines <names>` builds those pipelines alone, so it imports no other pipeline's nodes."""

from importlib import import_module

from kedro.framework.project import pipelines as project_pipelines
from kedro.pipeline import Pipeline

# registry keys, each the name of its folder under pipelines/
PIPELINES = (
    "model_pool",
    "data_generation",
    "decomposer_sft",
    "allocator_sft",
    "rl_refinement",
    "pretrained_backbone",
    "evaluation",
    "evaluation_baselines",
    "alternating_training",
    "estimate",
)
DEFAULT = "alternating_training"


def registered_names() -> list[str]:
    """Every key register_pipelines gives when all pipelines are asked for, without building any."""
    return [*PIPELINES, "__default__"]


def create_pipeline(name: str) -> Pipeline:
    """Pipeline `name`, built by its folder's create_pipeline (which imports its nodes)."""
    return import_module(f"{__package__}.pipelines.{name}").create_pipeline()


def requested_names() -> list[str] | None:
    """The pipelines Kedro asks for (`kedro run --pipelines`, `kedro registry describe`), or None for
    all (`kedro run` of `__default__` included, `kedro registry list`, `kedro viz`). Kedro 1.7 keeps
    this filter, set by KedroSession.run's `pipelines.set_requested`, in a private attribute that its
    own find_pipelines reads; it has no public reader."""
    return getattr(project_pipelines, "_requested_pipelines", None)


def register_pipelines() -> dict[str, Pipeline]:
    requested = requested_names()
    if requested is None:
        names = list(PIPELINES)
    else:  # an unknown name is left out: Kedro then lists every pipeline, with close matches
        wanted = {DEFAULT if name == "__default__" else name for name in requested}
        names = [name for name in PIPELINES if name in wanted]
    pipelines = {name: create_pipeline(name) for name in names}
    if requested is None or "__default__" in requested:
        pipelines["__default__"] = pipelines[DEFAULT]
    return pipelines
