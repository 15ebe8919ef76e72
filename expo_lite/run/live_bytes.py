"""What the tensors of a piece of code weigh, counted op by op: live bytes and their peak.

`LiveBytes` is a dispatch mode: it sees every aten op that runs inside it. Each storage an op creates is
added to the live total and taken off when the storage is freed (a finalizer on the storage, not on the
tensor: a tensor object often dies while its storage lives on, e.g. a gradient accumulated into `.grad`).
Ops whose outputs alias an input (views, in-place ops) create no storage and add nothing. `peak` is the
high-water mark; `phase(name)` records the high-water mark of a block.

It counts real tensors and the fake ones of `FakeTensorMode` alike. Fake tensors carry shapes, dtypes and
storage sizes but allocate nothing, so a 3B model's training step can be traced on a laptop in seconds -
through the real code (transformers' layers, peft's LoRA, bitsandbytes' 4-bit matmul, gradient
checkpointing, TRL's loss, our blockwise log-probs), not through a model of it. What makes real code run
on fake tensors, all here:

* Integer and boolean tensors are real. Token ids, positions, attention and loss masks are made by
  factory ops and computed from each other: those ops run for real, values and all. They are small; the
  floating-point tensors - weights, activations, gradients, caches - are the fake ones.
* An integer or boolean result computed from fake values (a token sampled from fake logits, a comparison
  of fake numbers) has no value: it is made up as zeros, so generation continues to its length limit
  (token 0 is never EOS in a trace), and a value read back with `.item()` (logged metrics) reads as 0.
  Each made-up value is counted in `values_read`. Code whose *sizes* depended on such values would be
  traced at the made-up size; the traced code paths read them only for sampling, masks and logging.
* Boolean-mask indexing (`hidden[mask]`) has a size that depends on the mask's values, which fake tensors
  cannot know: the (real) mask is turned into the integer positions it selects, which they can.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_leaves, tree_map

GIB = 2**30


def _is_fake(t: Any) -> bool:
    return isinstance(t, FakeTensor)


class LiveBytes(TorchDispatchMode):
    """Live bytes of the storages created inside the mode, their peak, and the peak of each named phase."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.phases: dict[str, int] = {}  # phase -> highest live bytes seen inside it
        self.values_read = 0  # values read back from fake tensors (made up as 0)
        self._sizes: dict[int, int] = {}  # storage address -> bytes, while alive

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [x for x in tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
        fakes = [x for x in tensors if _is_fake(x)]
        aliasing = any(r.alias_info is not None for r in func._schema.returns)
        if func is torch.ops.aten._local_scalar_dense.default and fakes:
            self.values_read += 1
            return False if args[0].dtype == torch.bool else 0
        if tensors and not fakes:
            with _disable_current_modes():  # ids and masks: computed for real, values and all
                out = func(*args, **kwargs)
        elif func is torch.ops.aten.index.Tensor and any(i is not None and i.dtype == torch.bool for i in args[1]):
            out = func(args[0], _positions(args[1]))
        else:
            out = func(*args, **kwargs)
            if not tensors or (not aliasing and all(x.is_floating_point() or x.dtype == torch.bool for x in fakes)):
                out = tree_map(lambda t: self._made_real(t, func, args, kwargs, made_up=bool(tensors)), out)
        if not aliasing:  # views and in-place ops create no storage
            for leaf in tree_leaves(out):
                if isinstance(leaf, torch.Tensor):
                    self._count(leaf.untyped_storage())
        return out

    def _made_real(self, t: Any, func: Any, args: Any, kwargs: Any, made_up: bool) -> Any:
        """A fake integer/boolean result as a real tensor: a factory's (arange, full) computed for real; one
        computed from fake values (a sampled token, a comparison) made up as zeros."""
        if not _is_fake(t) or t.is_floating_point() or t.is_complex():
            return t
        if made_up:
            self.values_read += 1
            with _disable_current_modes():
                return torch.zeros(t.shape, dtype=t.dtype)
        with _disable_current_modes():
            return func(*args, **kwargs)

    def _count(self, storage: torch.UntypedStorage) -> None:
        key = storage._cdata
        if key in self._sizes:
            return
        size = storage.nbytes()
        self._sizes[key] = size
        self.live += size
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.live -= self._sizes.pop(key, 0)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Record the highest live total inside the block as phase `name` (the max over repeated blocks)."""
        outer, self.peak = self.peak, self.live
        try:
            yield
        finally:
            self.phases[name] = max(self.phases.get(name, 0), self.peak)
            self.peak = max(outer, self.peak)


def _positions(indices: list[Any]) -> list[Any]:
    """Index list with each (real) boolean mask replaced by the integer positions it selects: same result."""
    out: list[Any] = []
    for i in indices:
        if i is not None and i.dtype == torch.bool:
            with _disable_current_modes():
                out.extend(i.nonzero(as_tuple=True))
        else:
            out.append(i)
    return out


def storage_bytes(tensors: Any) -> int:
    """Bytes of the distinct storages behind `tensors` (tensors sharing a storage count it once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        storage = t.untyped_storage()
        seen[storage._cdata] = storage.nbytes()
    return sum(seen.values())
