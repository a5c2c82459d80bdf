"""GPU-only checks: larger shapes, peak memory, no recompilation. Skipped without CUDA.

Tolerances as in :mod:`tests.kernels.test_kernels`.
"""

from __future__ import annotations

import pytest
import torch

from multilabel_ls import STRATEGIES, MultiLabelSmoothingLoss, PositiveIndices

from ..test_losses import kwargs_for
from .test_kernels import assert_same

pytestmark = pytest.mark.gpu


def _batch(B, N, dtype, seed=0, positives=5.0):
    gen = torch.Generator(device="cuda").manual_seed(seed)
    x = (torch.randn(B, N, generator=gen, device="cuda") * 3).to(dtype)
    y = torch.rand(B, N, generator=gen, device="cuda") < positives / N
    y[:, 0], y[:, 1] = True, False
    return x, y


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_large_shapes_match_closed_form(strategy, dtype):
    x, y = _batch(16, 100_003, dtype)
    kw = kwargs_for(strategy, 0.1, x.shape[1], torch.Generator().manual_seed(0))
    mask = torch.rand(x.shape, device="cuda") < 0.01
    mask[:, :2] = False
    for tgt in (y, PositiveIndices.from_dense(y)):
        for red in ("mean", "none"):
            assert_same(x, tgt, strategy=strategy, reduction=red, ignore_mask=mask, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("strategy", ["binary", "mass_preserving", "uniform", "prior_softmax"])
def test_peak_memory_is_one_gradient(strategy, dtype):
    """Forward + backward allocate the gradient (1x the logits) and per-row vectors only."""
    B, N = 1024, 32768
    x, y = _batch(B, N, dtype)
    x.requires_grad_()
    kw = kwargs_for(strategy, 0.1, N, torch.Generator().manual_seed(0))
    crit = MultiLabelSmoothingLoss(strategy, **kw).cuda()  # prior as a device buffer
    crit(x, y).backward()  # warm-up: compile, allocator
    x.grad = None
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    crit(x, y).backward()
    torch.cuda.synchronize()
    extra = torch.cuda.max_memory_allocated() - base
    logits = x.numel() * x.element_size()
    assert extra <= 1.05 * logits, extra / logits


def test_no_recompilation_over_epsilon():
    from multilabel_ls.kernels import sigmoid, softmax

    x, y = _batch(64, 5000, torch.float32)
    x.requires_grad_()

    def compiled():
        n = 0
        for k in (
            sigmoid._sigmoid_kernel,
            softmax._softmax_sums_kernel,
            softmax._softmax_grad_kernel,
        ):
            n += sum(len(c[0]) for c in k.device_caches.values())
        return n

    for s in ("binary", "uniform"):
        MultiLabelSmoothingLoss(s, 0.1)(x, y).backward()
    before = compiled()
    for eps in (0.0, 0.05, 0.2, 0.7, 1.0):
        for s in ("binary", "uniform"):
            MultiLabelSmoothingLoss(s, eps)(x, y).backward()
    assert compiled() == before
