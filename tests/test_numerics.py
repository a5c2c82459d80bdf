"""Second-order gradients, infinite logits and extreme finite logits of the closed-form loss.

References are PyTorch's own losses on the dense smoothed target (``smooth_targets``) and
finite differences; never this package's loss.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from multilabel_ls import STRATEGIES, multilabel_smoothing_loss, smooth_targets
from multilabel_ls.strategies import get_strategy

from .test_losses import kwargs_for, random_batch

INF = float("inf")


def _torch_loss(x, t, family, reduction="mean"):
    """PyTorch's own loss of logits ``x`` against dense targets ``t`` (the naive composition)."""
    if family == "sigmoid":
        return F.binary_cross_entropy_with_logits(x, t, reduction=reduction)
    rows = -(t * torch.log_softmax(x, dim=1)).sum(1)
    return {"mean": rows.mean(), "sum": rows.sum(), "none": rows}[reduction]


def _reference(x, y, strategy, reduction="mean", **kw):
    """:func:`_torch_loss` on the dense smoothed target of ``y``."""
    t = smooth_targets(y, strategy=strategy, dtype=x.dtype, **kw)
    return _torch_loss(x, t, get_strategy(strategy).family, reduction)


def _penalty(lossfn, X, W, go=None):
    """Gradient penalty ``Σ (dL/dW)^2`` of a linear model and its gradient in ``W``."""
    W = W.detach().clone().requires_grad_()
    loss = lossfn(X @ W)
    if go is not None:
        loss = (loss * go).sum()
    (gW,) = torch.autograd.grad(loss, W, create_graph=True)
    pen = gW.pow(2).sum()
    (gpen,) = torch.autograd.grad(pen, W)
    return pen.detach(), gpen


# --- second-order gradients -----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradient_penalty_matches_pytorch(strategy, reduction):
    gen = torch.Generator().manual_seed(1)
    B, D, N = 6, 4, 7
    X = torch.randn(B, D, generator=gen, dtype=torch.float64)
    W = torch.randn(D, N, generator=gen, dtype=torch.float64)
    y = random_batch(B, N, gen)
    kw = kwargs_for(strategy, 0.2, N, gen)
    go = None
    if reduction == "none":
        fam = get_strategy(strategy).family
        go = torch.rand((B, N) if fam == "sigmoid" else (B,), generator=gen, dtype=torch.float64)
    ours = _penalty(
        lambda z: multilabel_smoothing_loss(
            z, y, strategy=strategy, reduction=reduction, backend="torch", **kw
        ),
        X, W, go,
    )  # fmt: skip
    ref = _penalty(lambda z: _reference(z, y, strategy, reduction, **kw), X, W, go)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_gradgradcheck_every_strategy(strategy):
    """float64 gradgradcheck with weights, a mask and (sigmoid) pos_weight."""
    gen = torch.Generator().manual_seed(2)
    B, N = 3, 5
    x = torch.randn(B, N, generator=gen, dtype=torch.float64, requires_grad=True)
    y = random_batch(B, N, gen)
    kw = kwargs_for(strategy, 0.15, N, gen)
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[1, 3] = True
    kw["weight"] = torch.rand(N, generator=gen, dtype=torch.float64) + 0.5
    if get_strategy(strategy).family == "sigmoid":
        kw["pos_weight"] = torch.rand(N, generator=gen, dtype=torch.float64) + 0.5
    for red in ("mean", "none"):

        def f(z, red=red):
            return multilabel_smoothing_loss(
                z, y, strategy=strategy, reduction=red, ignore_mask=mask, backend="torch", **kw
            )

        assert torch.autograd.gradcheck(f, (x,))
        assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("strategy", ["binary", "prior", "uniform", "prior_softmax"])
def test_hessian_vector_product(strategy):
    gen = torch.Generator().manual_seed(3)
    B, N = 4, 6
    x = torch.randn(B, N, generator=gen, dtype=torch.float64)
    v = torch.randn(B, N, generator=gen, dtype=torch.float64)
    y = random_batch(B, N, gen)
    kw = kwargs_for(strategy, 0.1, N, gen)
    _, hv = torch.autograd.functional.hvp(
        lambda z: multilabel_smoothing_loss(z, y, strategy=strategy, backend="torch", **kw), x, v
    )
    _, ref = torch.autograd.functional.hvp(lambda z: _reference(z, y, strategy, **kw), x, v)
    torch.testing.assert_close(hv, ref, rtol=1e-10, atol=1e-12)
    # and the Hessian against central differences of the gradient
    h = 1e-6

    def grad(z):
        z = z.clone().requires_grad_()
        return torch.autograd.grad(
            multilabel_smoothing_loss(z, y, strategy=strategy, backend="torch", **kw), z
        )[0]

    fd = (grad(x + h * v) - grad(x - h * v)) / (2 * h)
    torch.testing.assert_close(hv, fd, rtol=1e-6, atol=1e-8)


def test_first_order_gradient_unchanged_by_create_graph():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 6, generator=gen, requires_grad=True)
    y = random_batch(5, 6, gen)
    loss = multilabel_smoothing_loss(x, y, strategy="mass_preserving", epsilon=0.1)
    (g1,) = torch.autograd.grad(loss, x, retain_graph=True)
    (g2,) = torch.autograd.grad(loss, x, create_graph=True)
    assert g2.requires_grad
    torch.testing.assert_close(g1, g2.detach(), rtol=1e-6, atol=1e-8)


# --- infinite logits --------------------------------------------------------------------------------


def _loss_grad(x, y, strategy, reduction="sum", **kw):
    x = x.clone().requires_grad_()
    loss = multilabel_smoothing_loss(x, y, strategy=strategy, reduction=reduction, **kw)
    (g,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), g


def _ref_loss_grad(x, t, family, reduction="sum"):
    x = x.clone().requires_grad_()
    loss = _torch_loss(x, t, family, reduction)
    (g,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), g


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("strategy", ["binary", "binary_uniform", "mass_preserving", "prior"])
def test_sigmoid_infinite_logit_with_target_strictly_inside(strategy, sign):
    """Where the target is strictly between 0 and 1 the loss is +inf (PyTorch: +inf at +inf, and
    (1 - t)(-inf) + inf = NaN at -inf); the gradient σ(x) - t is finite and equals PyTorch's."""
    x = torch.tensor([[sign * INF, 0.5, -1.0]])
    y = torch.tensor([[1, 0, 0]]) if sign > 0 else torch.tensor([[0, 1, 0]])
    kw = kwargs_for(strategy, 0.1, 3, torch.Generator().manual_seed(0))
    t = smooth_targets(y, strategy=strategy, **kw)
    # the textbook form t softplus(-x) + (1 - t) softplus(x): no 0 · inf with 0 < t < 1
    elem = t * F.softplus(-x) + (1 - t) * F.softplus(x)
    for red in ("sum", "mean", "none"):
        loss, g = _loss_grad(x, y, strategy, red, **kw)
        ref = {"sum": elem.sum(), "mean": elem.mean(), "none": elem}[red]
        torch.testing.assert_close(loss, ref)
        assert bool(torch.isinf(loss).any())
        pt, rg = _ref_loss_grad(x, t, "sigmoid", red)
        if sign > 0:
            torch.testing.assert_close(loss, pt)
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, rg)


def test_sigmoid_infinite_logit_where_the_target_agrees_is_its_limit():
    """Target exactly 1 at +inf (exactly 0 at -inf): PyTorch gives 0·inf = NaN; ours the limit
    0 for that label, so the row's loss is the other labels' loss."""
    x = torch.tensor([[INF, -INF, 0.0, 2.0]])
    y = torch.tensor([[1, 0, 0, 1]])
    loss, g = _loss_grad(x, y, "binary", epsilon=0.0)
    rest = F.binary_cross_entropy_with_logits(
        torch.tensor([0.0, 2.0]), torch.tensor([0.0, 1.0]), reduction="sum"
    )
    assert torch.isnan(
        F.binary_cross_entropy_with_logits(x, y.float(), reduction="sum")
    )  # PyTorch's own value here
    torch.testing.assert_close(loss, rest)
    torch.testing.assert_close(
        g, torch.tensor([[0.0, 0.0, 0.5, torch.sigmoid(torch.tensor(2.0)) - 1]])
    )
    none, _ = _loss_grad(x, y, "binary", "none", epsilon=0.0)
    assert none[0, 0] == 0 and none[0, 1] == 0


def test_nan_logit_stays_nan():
    for s in ("binary", "uniform"):
        loss, _ = _loss_grad(
            torch.tensor([[float("nan"), 0.0, 1.0]]), torch.tensor([[1, 0, 0]]), s, epsilon=0.0
        )
        assert torch.isnan(loss)


@pytest.mark.parametrize("strategy", ["uniform", "positive_split", "unnormalized", "prior_softmax"])
def test_softmax_minus_infinity_with_positive_target_is_inf(strategy):
    x = torch.tensor([[-INF, 0.0, 1.0], [0.3, -INF, 2.0]])
    y = torch.tensor([[1, 0, 0], [0, 1, 1]])
    kw = kwargs_for(strategy, 0.1, 3, torch.Generator().manual_seed(0))
    t = smooth_targets(y, strategy=strategy, **kw)
    for red in ("sum", "none"):
        loss, g = _loss_grad(x, y, strategy, red, **kw)
        ref, rg = _ref_loss_grad(x, t, "softmax", red)
        assert torch.equal(loss, ref)  # +inf
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g, rg)


def test_softmax_minus_infinity_with_zero_target_drops_out():
    """A label with target 0 at -inf contributes 0 (PyTorch: 0·inf = NaN with soft targets;
    its class-index cross-entropy gives the same finite value as ours)."""
    x = torch.tensor([[0.0, -INF, 1.0]])
    y = torch.tensor([[1, 0, 0]])
    loss, g = _loss_grad(x, y, "uniform", epsilon=0.0)
    xr = x.clone().requires_grad_()
    ref = F.cross_entropy(xr, torch.tensor([0]), reduction="sum")
    ref.backward()
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(g, xr.grad)


def test_softmax_plus_infinity_is_the_limit():
    """k logits at +inf: the limit of k equal logits growing together (p = 1/k on them)."""
    x = torch.tensor([[INF, 0.0, 0.0], [INF, INF, -1.0], [INF, 1.0, 0.0]])
    y = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 1, 0]])
    loss, g = _loss_grad(x, y, "uniform", "none", epsilon=0.0)
    torch.testing.assert_close(loss[:2], torch.tensor([0.0, math.log(2)]))
    assert loss[2] == INF
    # g = p - t with p the limit distribution
    torch.testing.assert_close(
        g, torch.tensor([[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0], [1.0, -1.0, 0.0]])
    )
    # matches PyTorch on finite logits approaching the limit (float64, logits 1e6)
    xf = torch.where(torch.isinf(x), torch.tensor(1e6), x).double()
    ref, rg = _ref_loss_grad(xf, y.double(), "softmax", "none")
    torch.testing.assert_close(loss[:2].double(), ref[:2])
    torch.testing.assert_close(g.double(), rg)


# --- extreme finite logits ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("big", [1e4, 1e7, 1e30])
@pytest.mark.parametrize("strategy", ["binary", "binary_uniform", "mass_preserving", "prior"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_sigmoid_huge_correct_logit_does_not_absorb_the_rest(strategy, big, dtype, eps):
    if big > torch.finfo(dtype).max:
        pytest.skip(f"{big:g} is not representable in {dtype}")
    x = torch.tensor([[big, 0.0, -1.5, 0.25], [-big, big, 3.0, -0.5]], dtype=dtype)
    y = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]])
    kw = kwargs_for(strategy, eps, 4, torch.Generator().manual_seed(0))
    t = smooth_targets(y, strategy=strategy, **kw)
    for red in ("sum", "none"):
        loss, g = _loss_grad(x, y, strategy, red, **kw)
        # PyTorch's float32 loss on the same (upcast) logits: exact here
        ref, rg = _ref_loss_grad(x.float(), t, "sigmoid", red)
        torch.testing.assert_close(loss, ref, rtol=4e-6, atol=1e-6)  # a few float32 roundings
        tol = {torch.float32: 1e-6, torch.bfloat16: 2**-7, torch.float16: 2**-10}[dtype]
        torch.testing.assert_close(g.float(), rg, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("big", [1e4, 1e7, 1e8, 1e30])
@pytest.mark.parametrize("strategy", ["uniform", "positive_split", "unnormalized", "prior_softmax"])
def test_softmax_tied_huge_logits(strategy, big, dtype):
    if big > torch.finfo(dtype).max:
        pytest.skip(f"{big:g} is not representable in {dtype}")
    x = torch.tensor([[big, big, 0.0, 0.0], [big, 0.5, -big, big]], dtype=dtype)
    y = torch.tensor([[1, 0, 0, 0], [1, 0, 0, 1]])
    kw = kwargs_for(strategy, 0.0, 4, torch.Generator().manual_seed(0))
    t = smooth_targets(y, strategy=strategy, **kw)
    loss, g = _loss_grad(x, y, strategy, "none", **kw)
    ref, rg = _ref_loss_grad(x.float(), t, "softmax", "none")
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-6)
    tol = {torch.float32: 1e-6, torch.bfloat16: 2**-7, torch.float16: 2**-10}[dtype]
    torch.testing.assert_close(g.float(), rg, rtol=tol, atol=tol)


def test_softmax_tie_example():
    x = torch.tensor([[1e8, 1e8, 0.0, 0.0]])
    loss, g = _loss_grad(x, torch.tensor([[1, 0, 0, 0]]), "uniform", epsilon=0.0)
    torch.testing.assert_close(loss, torch.tensor(math.log(2)))
    torch.testing.assert_close(g, torch.tensor([[-0.5, 0.5, 0.0, 0.0]]))


def test_module_rejects_nan_ignore_index_at_construction():
    from multilabel_ls import MultiLabelSmoothingLoss

    with pytest.raises(ValueError, match="ignore_index=nan"):
        MultiLabelSmoothingLoss("binary", 0.1, ignore_index=float("nan"))
    with pytest.raises(TypeError, match="ignore_index"):
        MultiLabelSmoothingLoss("binary", 0.1, ignore_index="-100")
    crit = MultiLabelSmoothingLoss("binary", 0.1, ignore_index=-100)
    y = torch.tensor([[1, -100, 0]])
    torch.testing.assert_close(
        crit(torch.zeros(1, 3), y),
        multilabel_smoothing_loss(
            torch.zeros(1, 3), y, strategy="binary", epsilon=0.1, ignore_index=-100
        ),
    )
