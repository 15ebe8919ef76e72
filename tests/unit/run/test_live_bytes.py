"""The op-by-op memory counter, on tensors whose bytes are known by hand, and on fake tensors."""

from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from expo_lite.run.live_bytes import LiveBytes, storage_bytes


def test_storages_are_counted_once_views_and_in_place_ops_add_nothing_and_freed_ones_leave():
    with LiveBytes() as live:
        a = torch.ones(1000)  # 4000 bytes
        view = a.view(10, 100)
        a.add_(1.0)
        assert live.live == 4000
        b = view * 2  # a new 4000-byte storage
        assert live.live == 8000
        del b
        assert live.live == 4000
        assert live.peak == 8000
        del a, view
        assert live.live == 0


def test_a_gradient_kept_in_grad_stays_counted_after_its_tensor_object_is_gone():
    w = torch.zeros(100, requires_grad=True)  # created outside: not counted
    with LiveBytes() as live:
        (w * 2.0).sum().backward()
        assert w.grad is not None
        assert live.live == storage_bytes([w.grad]) == 400  # the product and the sum are freed, the gradient stays


def test_a_phase_records_the_highest_live_total_inside_it():
    with LiveBytes() as live:
        keep = torch.ones(250)  # 1000 bytes, live through the phase
        with live.phase("work"):
            tmp = torch.ones(500)  # +2000
            del tmp
        torch.ones(100)  # after the phase: not part of it
        assert live.phases["work"] == 3000
        with live.phase("work"):  # a second, smaller block keeps the phase's maximum
            torch.ones(10)
        assert live.phases["work"] == 3000
        del keep


def test_on_fake_tensors_sizes_are_counted_without_memory_and_made_up_values_are_counted():
    with FakeTensorMode(allow_non_fake_inputs=True), LiveBytes() as live:
        logits = torch.empty(4, 50_000)  # fake: 800 kB counted, nothing allocated
        assert live.live == 800_000
        token = logits.argmax(dim=-1)  # an integer from fake values: made up (zeros), real
        assert not hasattr(token, "fake_mode") and token.tolist() == [0, 0, 0, 0]
        assert float(logits.sum()) == 0.0  # read back from a fake tensor: made up as 0
        ids = torch.arange(6)  # integer factories run for real
        mask = ids > 2
        picked = logits[:, :6][:, mask]  # a real boolean mask: its true size
        assert tuple(picked.shape) == (4, 3)
        assert live.values_read == 2
