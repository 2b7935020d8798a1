"""The torch build and CPU kernels a run computed with, recorded with each trained tier and tracked
run; torch alone (no transformers), so that the hooks and the evaluation's nodes import it cheaply."""


def numerics() -> dict[str, str]:
    """Part of what a float result depends on besides code, parameters and seed: the torch build and
    the CPU kernels ATen dispatches to (`AVX2`, `AVX512`; the environment variable ATEN_CPU_CAPABILITY
    lowers it). Recorded with every trained tier and evaluation run, so that runs which differ for
    this reason can be told apart from a bug. Equal values are necessary, not sufficient: the same
    capability on another CPU model may still round differently."""
    import torch

    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
