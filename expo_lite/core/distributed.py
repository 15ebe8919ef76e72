"""One process or several (`torchrun`, `accelerate launch`): who writes files and how ranks share work.

Under DDP every rank runs the whole recipe. Sampling work is sharded (each rank explains only its own
questions), results that go to disk are gathered to rank 0, and only rank 0 writes the run directory.
With a single process every helper here is a no-op that never touches torch.distributed, so the
single-GPU path stays exactly what it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def _group():
    """torch.distributed, initialised from the launcher's environment if nobody has yet. The Trainer
    (through accelerate) later finds the group already there and uses it."""
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist


def shard(items: list[T]) -> list[T]:
    """This rank's share, round-robin: rank r of W takes items r, r+W, r+2W, ..."""
    return items[rank()::world_size()]


def gather(items: list[T]) -> list[T]:
    """Every rank's list, concatenated in rank order, on every rank."""
    if world_size() == 1:
        return items
    parts: list[list[T] | None] = [None] * world_size()
    _group().all_gather_object(parts, items)
    return [x for part in parts for x in part or []]


def broadcast(obj: T) -> T:
    """Rank 0's value of `obj` on every rank."""
    if world_size() == 1:
        return obj
    box = [obj]
    _group().broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if world_size() > 1:
        _group().barrier()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. converting the embedded model into the shared cache), then the
    others, so no two processes write the same cache file at once."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def shared_path(make: Any) -> Path:
    """`make()` on rank 0 (it creates something and returns its path); every rank gets that path."""
    return Path(broadcast(str(make()) if is_main() else None))
