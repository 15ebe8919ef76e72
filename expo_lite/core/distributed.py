"""One process or several (`torchrun`, `accelerate launch`): who writes files and how ranks share work.

Under DDP every rank runs the whole recipe. Sampling work is sharded (each rank explains only its own
questions), results that go to disk are gathered to rank 0, and only rank 0 writes the run directory.
The collectives are accelerate's (`PartialState`, the same state TRL's trainers use, which starts the process
group from the launcher's environment the first time it is needed); what is ours is only the sharding rule
and reading rank / world size from the environment, which works before any process group exists (config
checks run before the model loads). With a single process every helper here returns at once and never starts
torch.distributed, so the single-GPU path stays exactly what it was.
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


def _state():
    """accelerate's process state. On CPU it must be asked for (cpu=True, as the Trainer's use_cpu asks):
    without it accelerate reads a torchrun launch on CPU as one process, and the state is shared, so the
    first caller decides for the Trainer too."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def shard(items: list[T]) -> list[T]:
    """This rank's share, round-robin: rank r of W takes items r, r+W, r+2W, ..."""
    return items[rank()::world_size()]


def gather(items: list[T]) -> list[T]:
    """Every rank's list, concatenated in rank order, on every rank."""
    if world_size() == 1:
        return items
    from accelerate.utils import gather_object

    _state()
    return gather_object(items)


def barrier() -> None:
    if world_size() > 1:
        _state().wait_for_everyone()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. converting the embedded model into the shared cache), then the
    others, so no two processes write the same cache file at once."""
    if world_size() == 1:
        yield
        return
    with _state().main_process_first():
        yield


def shared_path(make: Any) -> Path:
    """`make()` on rank 0 (it creates something and returns its path); every rank gets that path."""
    if world_size() == 1:
        return Path(make())
    from accelerate.utils import broadcast_object_list

    _state()
    box = [str(make()) if is_main() else None]
    return Path(broadcast_object_list(box, from_process=0)[0])
