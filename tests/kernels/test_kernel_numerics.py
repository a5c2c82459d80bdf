"""The kernels at infinite and huge logits and under create_graph=True, against the closed-form
path (itself checked against PyTorch in tests/test_numerics.py) and against PyTorch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from multilabel_ls import multilabel_smoothing_loss, smooth_targets

from ..test_losses import kwargs_for, random_batch

INF = float("inf")


def _kw(strategy, eps, N, device, gen=None):
    """``kwargs_for`` with its tensors (a prior) on ``device``."""
    kw = kwargs_for(strategy, eps, N, gen or torch.Generator().manual_seed(0))
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in kw.items()}


def _run(backend, x, y, strategy, reduction="sum", create_graph=False, **kw):
    x = x.detach().clone().requires_grad_()
    loss = multilabel_smoothing_loss(
        x, y, strategy=strategy, reduction=reduction, backend=backend, **kw
    )
    (g,) = torch.autograd.grad(loss.sum(), x, create_graph=create_graph)
    return loss.detach().cpu(), g.detach().cpu()


@pytest.mark.parametrize(
    "strategy", ["binary", "mass_preserving", "prior", "uniform", "prior_softmax"]
)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_double_backward_through_kernels(strategy, reduction, device):
    gen = torch.Generator().manual_seed(5)
    B, D, N = 5, 3, 6
    X = torch.randn(B, D, generator=gen, dtype=torch.float64).to(device)
    W0 = torch.randn(D, N, generator=gen, dtype=torch.float64).to(device)
    y = random_batch(B, N, gen).to(device)
    kw = _kw(strategy, 0.2, N, device, gen)
    out = []
    for backend in ("triton", "torch"):
        W = W0.clone().requires_grad_()
        loss = multilabel_smoothing_loss(
            X @ W, y, strategy=strategy, reduction=reduction, backend=backend, **kw
        )
        (gW,) = torch.autograd.grad(loss.sum(), W, create_graph=True)
        (gg,) = torch.autograd.grad(gW.pow(2).sum(), W)
        out.append((gW.detach(), gg))
    torch.testing.assert_close(out[0][0], out[1][0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out[0][1], out[1][1], rtol=1e-10, atol=1e-12)
    assert out[0][1].abs().max() > 0


@pytest.mark.parametrize("strategy", ["binary", "binary_uniform", "prior"])
def test_sigmoid_kernel_infinite_logits(strategy, device):
    x = torch.tensor([[INF, -INF, 0.5, 2.0], [-INF, INF, 1.0, -3.0]]).to(device)
    y = torch.tensor([[1, 0, 0, 1], [1, 0, 1, 0]]).to(device)
    for eps in (0.0, 0.1):
        kw = _kw(strategy, eps, 4, device)
        for red in ("sum", "none"):
            got = _run("triton", x, y, strategy, red, **kw)
            ref = _run("torch", x, y, strategy, red, **kw)
            assert not torch.isnan(got[0]).any()
            torch.testing.assert_close(got[0], ref[0])
            torch.testing.assert_close(got[1], ref[1])


def test_softmax_kernel_minus_infinity_and_ties(device):
    x = torch.tensor([[-INF, 0.0, 1.0], [0.3, -INF, 2.0]]).to(device)
    y = torch.tensor([[1, 0, 0], [0, 1, 1]]).to(device)
    for red in ("sum", "none"):
        got = _run("triton", x, y, "uniform", red, epsilon=0.1)
        ref = _run("torch", x, y, "uniform", red, epsilon=0.1)
        torch.testing.assert_close(got[0], ref[0])
        torch.testing.assert_close(got[1], ref[1])
    xt = torch.tensor([[1e8, 1e8, 0.0, 0.0]]).to(device)
    loss, g = _run("triton", xt, torch.tensor([[1, 0, 0, 0]]).to(device), "uniform", epsilon=0.0)
    torch.testing.assert_close(loss, torch.tensor(math.log(2)))
    torch.testing.assert_close(g, torch.tensor([[-0.5, 0.5, 0.0, 0.0]]))


@pytest.mark.parametrize("big", [1e4, 1e7, 1e30])
@pytest.mark.parametrize("strategy", ["binary", "uniform"])
def test_kernel_huge_logits_match_pytorch(strategy, big, device):
    x = torch.tensor([[big, 0.0, -1.5, 0.25], [-big, big, 3.0, big]]).to(device)
    y = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 1]]).to(device)
    t = smooth_targets(y, strategy=strategy, epsilon=0.0)
    loss, g = _run("triton", x, y, strategy, "none", epsilon=0.0)
    xr = x.clone().requires_grad_()
    if strategy == "binary":
        ref = F.binary_cross_entropy_with_logits(xr, t, reduction="none")
    else:
        ref = -(t * torch.log_softmax(xr, 1)).sum(1)
    ref.sum().backward()
    torch.testing.assert_close(loss, ref.detach().cpu(), rtol=4e-6, atol=1e-6)
    torch.testing.assert_close(g, xr.grad.cpu(), rtol=1e-6, atol=1e-6)


def test_softmax_kernel_no_cancellation_when_b_below_c(device):
    """positive_split at ε = 1 (b = 0 < c): the kernel sums Σ(1-y)h directly (D3.9)."""
    x = torch.tensor([[-1e8, 0.0, 0.0, 0.0]]).to(device)
    y = torch.tensor([[1, 0, 0, 0]]).to(device)
    loss, g = _run("triton", x, y, "positive_split", epsilon=1.0)
    t = smooth_targets(y.cpu(), strategy="positive_split", epsilon=1.0)
    xr = x.cpu().clone().requires_grad_()
    ref = F.cross_entropy(xr, t, reduction="sum")
    ref.backward()
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(g, xr.grad)


def test_softmax_kernel_minus_infinity_with_zero_prior_entry(device):
    x = torch.tensor([[-INF, 0.0, 1.0, 0.5]]).to(device)
    y = torch.tensor([[0, 1, 0, 1]]).to(device)
    prior = torch.tensor([0.0, 0.3, 0.3, 0.4]).to(device)
    for red in ("sum", "none"):
        got = _run("triton", x, y, "prior_softmax", red, epsilon=0.2, prior=prior)
        ref = _run("torch", x, y, "prior_softmax", red, epsilon=0.2, prior=prior)
        assert torch.isfinite(got[0]).all()
        torch.testing.assert_close(got[0], ref[0])
        torch.testing.assert_close(got[1], ref[1])
