"""The processes of a multi-process launch (`accelerate launch`, `torchrun`): which one is the main
one, and waits for all of them. The main process writes; the others train in step and write
nothing. With one process (a plain `kedro run`) it is the main one and there is nothing to wait for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta
from importlib.metadata import entry_points

GROUP_TIMEOUT_S = 1800


def world_size() -> int:
    """Processes in the launch: WORLD_SIZE, as torchrun (behind `accelerate launch`) sets it for
    every process it starts, and as torch.distributed and accelerate read it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's global rank (RANK, as the launcher sets it); 0 outside a launch."""
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Read from the environment, so settings.py can ask before torch is imported."""
    return rank() == 0


def wait_for_everyone() -> None:
    """Every process of the launch waits here until all have arrived; nothing with one process."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        _join_group()
    dist.barrier()


def _join_group() -> None:
    """The launch's process group, for a wait that comes before any trainer made it (a node that
    trains nothing). torch's default backends for the host (gloo for CPU tensors, and NCCL for CUDA
    ones where there is a GPU), so a CPU or a GPU trainer later reuses the same group, as
    accelerate does with a group it finds made."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():  # a barrier on NCCL needs this process's own GPU
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # a wait may last as long as the main process's write: the trainers' default (ddp_timeout)
    dist.init_process_group(timeout=timedelta(seconds=GROUP_TIMEOUT_S))


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """The main process runs the block first, the others once it is done: the same model calls are
    then answered from the call cache, not paid for once per process."""
    if not is_main():
        wait_for_everyone()
    yield
    if is_main():
        wait_for_everyone()


def plugin_names() -> tuple[str, ...]:
    """The installed distributions with Kedro hooks (kedro-mlflow, kedro-viz, ...), by the names
    settings.DISABLE_HOOKS_FOR_PLUGINS takes."""
    return tuple(sorted({ep.dist.name for ep in entry_points(group="kedro.hooks") if ep.dist is not None}))
