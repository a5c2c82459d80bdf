"""The loss against independent references: PyTorch's own losses and the textbook loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from multilabel_ls import (
    STRATEGIES,
    MultiLabelSmoothingLoss,
    PositiveIndices,
    multilabel_smoothing_loss,
    smooth_targets,
)
from multilabel_ls.strategies import get_strategy

from .reference import SIGMOID, textbook_loss


def kwargs_for(strategy, eps=0.1, N=None, gen=None):
    """Smoothing keyword arguments for ``strategy`` (a prior is drawn when needed)."""
    if strategy.startswith("asymmetric"):
        return {"epsilon_pos": eps, "epsilon_neg": eps / 4}
    kw = {"epsilon": eps}
    if strategy.startswith("prior"):
        p = torch.rand(N, generator=gen, dtype=torch.float64) * 0.5 + 0.01
        kw["prior"] = p / p.sum() if strategy == "prior_softmax" else p
    return kw


def ref_kwargs(kw):
    return {
        "eps": kw.get("epsilon", 0.0),
        "eps_pos": kw.get("epsilon_pos", 0.0),
        "eps_neg": kw.get("epsilon_neg", 0.0),
        "prior": kw.get("prior"),
    }


def random_batch(B, N, gen, p=0.3, ensure_defined=True):
    y = (torch.rand(B, N, generator=gen) < p).to(torch.int64)
    if ensure_defined and N >= 2:  # at least one positive and one negative per row
        y[:, 0] = 1
        y[:, 1] = 0
    return y


# --- PyTorch's own losses as anchors -------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35, 1.0])
def test_binary_equals_keras_formula_in_bce(eps):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 9, generator=g, dtype=torch.float64)
    y = random_batch(6, 9, g)
    ref = F.binary_cross_entropy_with_logits(x, y.double() * (1 - eps) + eps / 2)
    got = multilabel_smoothing_loss(x, y, strategy="binary", epsilon=eps)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
def test_unnormalized_equals_torch_cross_entropy_with_probability_targets(eps):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(7, 11, generator=g, dtype=torch.float64)
    y = random_batch(7, 11, g)
    ref = F.cross_entropy(x, y.double(), label_smoothing=eps)
    got = multilabel_smoothing_loss(x, y, strategy="unnormalized", epsilon=eps)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    ref_none = F.cross_entropy(x, y.double(), label_smoothing=eps, reduction="none")
    got_none = multilabel_smoothing_loss(
        x, y, strategy="unnormalized", epsilon=eps, reduction="none"
    )
    torch.testing.assert_close(got_none, ref_none, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_uniform_with_one_positive_equals_torch_index_cross_entropy(eps):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    idx = torch.randint(0, 5, (8,), generator=g)
    y = F.one_hot(idx, 5)
    ref = F.cross_entropy(x, idx, label_smoothing=eps)
    for s in ("uniform", "unnormalized"):  # identical when n = 1
        got = multilabel_smoothing_loss(x, y, strategy=s, epsilon=eps)
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_weights_follow_torch_conventions():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    y = random_batch(5, 6, g)
    w = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    pw = torch.rand(6, generator=g, dtype=torch.float64) * 3
    t = y.double() * 0.8 + 0.1
    ref = F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw)
    got = multilabel_smoothing_loss(x, y, strategy="binary", epsilon=0.2, weight=w, pos_weight=pw)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    ref = F.cross_entropy(x, y.double(), weight=w, label_smoothing=0.2)
    got = multilabel_smoothing_loss(x, y, strategy="unnormalized", epsilon=0.2, weight=w)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


def test_segmentation_shape_matches_torch():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64)
    y = (torch.rand(2, 4, 3, 5, generator=g) < 0.4).long()
    ref = F.cross_entropy(x, y.double(), label_smoothing=0.1, reduction="none")
    got = multilabel_smoothing_loss(x, y, strategy="unnormalized", epsilon=0.1, reduction="none")
    assert got.shape == (2, 3, 5)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)
    ref = F.binary_cross_entropy_with_logits(x, y.double() * 0.9 + 0.05, reduction="none")
    got = multilabel_smoothing_loss(x, y, strategy="binary", epsilon=0.1, reduction="none")
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


# --- every strategy against the textbook loops ---------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    B=st.integers(1, 5),
    N=st.integers(2, 9),
    eps=st.floats(0.0, 1.0),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    masked=st.booleans(),
    weighted=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_matches_textbook(strategy, B, N, eps, reduction, masked, weighted, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(B, N, generator=g, dtype=torch.float64) * 3).requires_grad_()
    y = random_batch(B, N, g)
    kw = kwargs_for(strategy, eps if not strategy.startswith("asym") else eps / 2, N, g)
    mask = None
    if masked:  # unknown labels, keeping label 0 (positive) and 1 (negative) known
        mask = torch.rand(B, N, generator=g) < 0.3
        mask[:, :2] = False
    w = torch.rand(N, generator=g, dtype=torch.float64) + 0.1 if weighted else None
    pw = None
    if weighted and get_strategy(strategy).family == "sigmoid":
        pw = torch.rand(N, generator=g, dtype=torch.float64) * 2
    got = multilabel_smoothing_loss(
        x,
        y,
        strategy=strategy,
        reduction=reduction,
        ignore_mask=mask,
        weight=w,
        pos_weight=pw,
        **kw,
    )
    x2 = x.detach().clone().requires_grad_()
    ref = textbook_loss(
        x2, y, strategy, known=None if mask is None else ~mask, weight=w, pos_weight=pw,
        reduction=reduction, **ref_kwargs(kw),
    )  # fmt: skip
    if reduction == "none":
        ref = (
            torch.stack([torch.stack(r) for r in ref]) if strategy in SIGMOID else torch.stack(ref)
        )
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    # the closed-form backward equals autograd through the textbook loss
    go = torch.rand_like(ref, dtype=torch.float64) if reduction == "none" else None
    (gx,) = torch.autograd.grad(got, x, grad_outputs=go)
    (gr,) = torch.autograd.grad(ref, x2, grad_outputs=go)
    torch.testing.assert_close(gx, gr, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(strategy, reduction):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = (torch.rand(3, 5, 2, generator=g) < 0.4).long()
    y[:, 0], y[:, 1] = 1, 0
    mask = torch.zeros(3, 5, 2, dtype=torch.bool)
    mask[0, 3, 1] = True
    kw = kwargs_for(strategy, 0.2, 5, g)
    w = torch.rand(5, generator=g, dtype=torch.float64) + 0.5

    def f(inp):
        return multilabel_smoothing_loss(
            inp, y, strategy=strategy, reduction=reduction, ignore_mask=mask, weight=w, **kw
        )

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-8)


# --- properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_epsilon_zero_gives_the_unsmoothed_loss(strategy):
    g = torch.Generator().manual_seed(8)
    x = torch.randn(6, 7, generator=g, dtype=torch.float64)
    y = random_batch(6, 7, g)
    kw = kwargs_for(strategy, 0.0, 7, g)
    got = multilabel_smoothing_loss(x, y, strategy=strategy, **kw)
    fam = get_strategy(strategy).family
    if fam == "sigmoid":
        ref = F.binary_cross_entropy_with_logits(x, y.double())
    elif strategy in ("unnormalized", "asymmetric_softmax"):  # the raw multi-hot target
        ref = F.cross_entropy(x, y.double())
    else:  # normalised multi-hot y / n
        ref = F.cross_entropy(x, y / y.sum(1, keepdim=True))
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    B=st.integers(1, 6),
    N=st.integers(2, 12),
    eps=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_sparse_equals_dense(strategy, B, N, eps, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, generator=g, dtype=torch.float64, requires_grad=True)
    y = random_batch(B, N, g)
    kw = kwargs_for(strategy, eps / 2, N, g)
    mask = torch.rand(B, N, generator=g) < 0.2
    mask[:, :2] = False
    sp = PositiveIndices.from_dense(y)
    for red in ("mean", "sum", "none"):
        a = multilabel_smoothing_loss(
            x, y, strategy=strategy, reduction=red, ignore_mask=mask, **kw
        )
        b = multilabel_smoothing_loss(
            x, sp, strategy=strategy, reduction=red, ignore_mask=mask, **kw
        )
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-14)
        go = torch.rand_like(a)
        ga = torch.autograd.grad(a, x, go)[0]
        gb = torch.autograd.grad(b, x, go)[0]
        torch.testing.assert_close(ga, gb, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_reductions_are_consistent(strategy):
    g = torch.Generator().manual_seed(9)
    x = torch.randn(5, 6, 3, generator=g, dtype=torch.float64)
    y = (torch.rand(5, 6, 3, generator=g) < 0.4).long()
    y[:, 0], y[:, 1] = 1, 0
    mask = torch.rand(5, 6, 3, generator=g) < 0.2
    mask[:, :2] = False
    mask[2, :, 1] = True  # one fully unknown row
    kw = kwargs_for(strategy, 0.15, 6, g)
    none = multilabel_smoothing_loss(
        x, y, strategy=strategy, reduction="none", ignore_mask=mask, **kw
    )
    tot = multilabel_smoothing_loss(
        x, y, strategy=strategy, reduction="sum", ignore_mask=mask, **kw
    )
    mean = multilabel_smoothing_loss(
        x, y, strategy=strategy, reduction="mean", ignore_mask=mask, **kw
    )
    torch.testing.assert_close(none.sum(), tot)
    if get_strategy(strategy).family == "sigmoid":
        assert (none[mask] == 0).all()
        count = (~mask).sum()
    else:
        assert none.shape == (5, 3) and none[2, 1] == 0
        count = (~mask).any(1).sum()
    torch.testing.assert_close(mean, tot / count)


def test_unknown_labels_equal_the_restricted_row():
    """A row with unknown labels is the row restricted to its known labels (D1.5)."""
    g = torch.Generator().manual_seed(10)
    x = torch.randn(1, 8, generator=g, dtype=torch.float64)
    y = torch.tensor([[1, 0, 1, 0, 0, 1, 0, 0]])
    mask = torch.tensor([[False, True, False, False, True, False, True, False]])
    keep = ~mask[0]
    for s in STRATEGIES:
        kw = kwargs_for(s, 0.2, 8, g)
        sub_kw = dict(kw)
        if "prior" in kw:
            sub = kw["prior"][keep]
            sub_kw["prior"] = sub / sub.sum() if s == "prior_softmax" else sub
        full = multilabel_smoothing_loss(x, y, strategy=s, ignore_mask=mask, reduction="sum", **kw)
        restricted = multilabel_smoothing_loss(
            x[:, keep], y[:, keep], strategy=s, reduction="sum", **sub_kw
        )
        torch.testing.assert_close(full, restricted, rtol=1e-12, atol=1e-12)


def test_ignore_index_equals_ignore_mask():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64)
    y = random_batch(4, 6, g)
    mask = torch.zeros(4, 6, dtype=torch.bool)
    mask[1, 3] = mask[2, 5] = True
    y_idx = y.masked_fill(mask, -100)
    for s in STRATEGIES:
        kw = kwargs_for(s, 0.2, 6, g)
        a = multilabel_smoothing_loss(x, y, strategy=s, ignore_mask=mask, **kw)
        b = multilabel_smoothing_loss(x, y_idx, strategy=s, ignore_index=-100, **kw)
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_extreme_logits_are_finite(strategy, dtype):
    x = torch.tensor(
        [[1e4, -1e4, 0.0, 1e4], [-1e4, 1e4, -1e4, 5.0]], dtype=dtype, requires_grad=True
    )
    y = torch.tensor([[1, 0, 1, 0], [0, 0, 1, 1]])
    kw = kwargs_for(strategy, 0.1, 4, torch.Generator().manual_seed(0))
    for red in ("mean", "sum", "none"):
        loss = multilabel_smoothing_loss(x, y, strategy=strategy, reduction=red, **kw)
        assert torch.isfinite(loss).all()
        (g,) = torch.autograd.grad(loss.sum(), x)
        assert g.dtype == dtype and torch.isfinite(g).all()


def test_half_precision_matches_float32():
    g = torch.Generator().manual_seed(12)
    x = torch.randn(16, 40, generator=g) * 4
    y = random_batch(16, 40, g)
    for s in STRATEGIES:
        kw = kwargs_for(s, 0.1, 40, g)
        ref = multilabel_smoothing_loss(x, y, strategy=s, **kw)
        for dt in (torch.bfloat16, torch.float16):
            xh = x.to(dt)
            got = multilabel_smoothing_loss(xh, y, strategy=s, **kw)
            exact = multilabel_smoothing_loss(xh.float(), y, strategy=s, **kw)
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, exact, rtol=1e-6, atol=1e-6)  # fp32 accumulation
            torch.testing.assert_close(got, ref, rtol=0.02, atol=0.02)  # input rounding only


def test_soft_targets_mixup_composition():
    """Per-label strategies commute with mixing; `uniform` normalises the mixed target."""
    g = torch.Generator().manual_seed(13)
    y1, y2 = random_batch(4, 6, g), random_batch(4, 6, g)
    lam = 0.3
    mixed = lam * y1.double() + (1 - lam) * y2.double()
    for s in ("binary", "binary_uniform", "mass_preserving", "asymmetric", "unnormalized"):
        kw = kwargs_for(s, 0.2, 6, g)
        a = smooth_targets(mixed, strategy=s, soft_targets=True, dtype=torch.float64, **kw)
        b = lam * smooth_targets(y1, strategy=s, dtype=torch.float64, **kw) + (
            1 - lam
        ) * smooth_targets(y2, strategy=s, dtype=torch.float64, **kw)
        torch.testing.assert_close(a, b)
    t = smooth_targets(
        mixed, strategy="uniform", epsilon=0.2, soft_targets=True, dtype=torch.float64
    )
    torch.testing.assert_close(t, 0.8 * mixed / mixed.sum(1, keepdim=True) + 0.2 / 6)


# --- the module ----------------------------------------------------------------------------------


def test_module_delegates_and_moves_buffers():
    g = torch.Generator().manual_seed(14)
    x = torch.randn(3, 5, generator=g)
    y = random_batch(3, 5, g)
    w = torch.rand(5, generator=g)
    crit = MultiLabelSmoothingLoss("binary_uniform", 0.1, weight=w, reduction="sum")
    ref = multilabel_smoothing_loss(
        x, y, strategy="binary_uniform", epsilon=0.1, weight=w, reduction="sum"
    )
    torch.testing.assert_close(crit(x, y), ref)
    assert "binary_uniform" in repr(crit) and "epsilon=0.1" in repr(crit)
    crit = crit.to(torch.float64)
    assert crit.weight.dtype == torch.float64
    p = torch.full((5,), 0.2)
    crit = MultiLabelSmoothingLoss("prior_softmax", 0.3, prior=p)
    ref = multilabel_smoothing_loss(x, y, strategy="prior_softmax", epsilon=0.3, prior=p)
    torch.testing.assert_close(crit(x, y), ref)
    assert crit.strategy == "prior_softmax" and crit.epsilon == 0.3
    with pytest.raises(ValueError, match=r"pos_weight"):
        MultiLabelSmoothingLoss("uniform", 0.1, pos_weight=torch.ones(5))
    with pytest.raises(ValueError, match=r"weight must be finite and non-negative"):
        MultiLabelSmoothingLoss("binary", 0.1, weight=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"backend must be one of"):
        MultiLabelSmoothingLoss("binary", 0.1, backend="cuda")
    crit = MultiLabelSmoothingLoss("binary", 0.1, backend="torch")
    torch.testing.assert_close(
        crit(x, y), multilabel_smoothing_loss(x, y, strategy="binary", epsilon=0.1, backend="torch")
    )
    with pytest.raises(ValueError, match=r"reduction"):
        MultiLabelSmoothingLoss("uniform", 0.1, reduction="avg")
