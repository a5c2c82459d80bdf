"""Data-parallel context for ``torchrun``: rank, world size and the few collectives the runner uses.

Under ``torchrun --nproc_per_node K`` every process runs the same grid; each training step
splits the global minibatch into K shards, ``DistributedDataParallel`` averages the gradients,
and every rank evaluates the (small) validation and test sets itself, so all ranks take the
same early-stopping decisions without communicating. Rank 0 alone writes the store, the report
and the progress bar. Without ``torchrun`` (``WORLD_SIZE`` unset or 1) nothing is initialised.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Rank and world size of this process (``DistContext()`` is the single-process case)."""

    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        """True when training is data-parallel over more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that writes results)."""
        return self.rank == 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (identity without a process group)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank (no-op single-process)."""
        if self.enabled:
            dist.barrier()


def init_from_env(backend: str | None = None) -> DistContext:
    """Join the process group described by torchrun's environment, if there is one.

    Parameters
    ----------
    backend : str, optional
        ``"gloo"`` (CPU) or ``"nccl"`` (CUDA); by default gloo (the runner trains on the CPU).

    Returns
    -------
    DistContext
        ``DistContext()`` when ``WORLD_SIZE`` is unset or 1.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or "gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op single-process)."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """``DistributedDataParallel(model)`` under torchrun, else ``model`` unchanged."""
    if not ctx.enabled:
        return model
    return torch.nn.parallel.DistributedDataParallel(model)
