"""smooth_targets: values against the textbook table, sums, library anchors, row policies."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multilabel_ls import STRATEGIES, PositiveIndices, multilabel_smoothing_loss, smooth_targets

from .reference import row_targets
from .test_losses import kwargs_for, random_batch, ref_kwargs


@settings(max_examples=80, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    B=st.integers(1, 5),
    N=st.integers(2, 10),
    eps=st.floats(0.0, 1.0),
    soft=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_targets_match_textbook_and_lie_in_unit_interval(strategy, B, N, eps, soft, seed):
    g = torch.Generator().manual_seed(seed)
    y = random_batch(B, N, g).double()
    if soft:
        y = y * torch.rand(B, N, generator=g, dtype=torch.float64).clamp(min=0.05)
    mask = torch.rand(B, N, generator=g) < 0.25
    mask[:, :2] = False
    kw = kwargs_for(strategy, eps / 2 if strategy.startswith("asym") else eps, N, g)
    t = smooth_targets(
        y, strategy=strategy, ignore_mask=mask, soft_targets=soft, dtype=torch.float64, **kw
    )
    rk = ref_kwargs(kw)
    prior = None if rk["prior"] is None else rk["prior"].tolist()
    for i in range(B):
        ref = row_targets(
            y[i].tolist(),
            (~mask[i]).tolist(),
            strategy,
            rk["eps"],
            rk["eps_pos"],
            rk["eps_neg"],
            prior,
        )
        torch.testing.assert_close(
            t[i], torch.tensor(ref, dtype=torch.float64), rtol=1e-12, atol=1e-14
        )
    assert (t >= 0).all() and (t <= 1 + 1e-12).all()
    assert (t[mask] == 0).all()
    if strategy in ("uniform", "positive_split", "prior_softmax"):
        torch.testing.assert_close(t.sum(1), torch.ones(B, dtype=torch.float64))


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_target_sums_follow_the_table(eps):
    y = torch.tensor([[1, 1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0]])
    n = y.sum(1).double()
    N = 7
    expected = {
        "binary": n * (1 - eps) + N * eps / 2,
        "binary_uniform": n * (1 - eps) + eps,
        "mass_preserving": n,
        "unnormalized": n * (1 - eps) + eps,
        "uniform": torch.ones(2, dtype=torch.float64),
        "positive_split": torch.ones(2, dtype=torch.float64),
    }
    for s, want in expected.items():
        t = smooth_targets(y, strategy=s, epsilon=eps, dtype=torch.float64)
        torch.testing.assert_close(t.sum(1), want)
    t = smooth_targets(
        y, strategy="asymmetric", epsilon_pos=eps, epsilon_neg=eps / 10, dtype=torch.float64
    )
    torch.testing.assert_close(t.sum(1), n * (1 - eps) + (N - n) * eps / 10)


def test_published_values():
    # ClassyVision's test: [1,0,0,0,1] with s = 0.5 is our uniform with ε = s/(1+s) = 1/3.
    t = smooth_targets(
        torch.tensor([[1, 0, 0, 0, 1]]), strategy="uniform", epsilon=1 / 3, dtype=torch.float64
    )
    torch.testing.assert_close(t[0], torch.tensor([6, 1, 1, 1, 6], dtype=torch.float64) / 15)
    t = smooth_targets(
        torch.tensor([[0, 0, 0, 0, 1]]), strategy="uniform", epsilon=1 / 11, dtype=torch.float64
    )
    torch.testing.assert_close(
        t[0], torch.tensor([0.2, 0.2, 0.2, 0.2, 10.2], dtype=torch.float64) / 11
    )
    # mmaction2#1639: [1, 1, 0] with ε = 0.1 becomes [0.933, 0.933, 0.033], summing to 1.9.
    t = smooth_targets(
        torch.tensor([[1, 1, 0]]), strategy="unnormalized", epsilon=0.1, dtype=torch.float64
    )
    torch.testing.assert_close(
        t[0], torch.tensor([0.9 + 0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3], dtype=torch.float64)
    )
    assert abs(t.sum().item() - 1.9) < 1e-12
    # timm at ε = 0.1, N = 1000: on 0.9001, off 1e-4; Keras: 0.95 / 0.05.
    y = torch.zeros(1, 1000)
    y[0, 3] = 1
    t = smooth_targets(y, strategy="binary_uniform", epsilon=0.1, dtype=torch.float64)
    assert abs(t[0, 3].item() - 0.9001) < 1e-12 and abs(t[0, 0].item() - 1e-4) < 1e-15
    t = smooth_targets(y, strategy="binary", epsilon=0.1, dtype=torch.float64)
    assert abs(t[0, 3].item() - 0.95) < 1e-12 and abs(t[0, 0].item() - 0.05) < 1e-12


def test_mass_preserving_properties():
    y = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 1, 0]])
    t = smooth_targets(y, strategy="mass_preserving", epsilon=0.2, dtype=torch.float64)
    torch.testing.assert_close(t.sum(1), y.sum(1).double())
    assert (t[1] == 0).all()  # empty rows stay zero
    # one positive: standard label smoothing (1-ε) onehot + ε/N
    torch.testing.assert_close(t[2], 0.8 * y[2].double() + 0.2 / 4)


def test_empty_row_policies():
    y = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0]])
    x = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"1 row\(s\) with no positive label.*empty_rows='skip'"):
        smooth_targets(y, strategy="uniform", epsilon=0.1)
    with pytest.raises(ValueError, match=r"empty_rows"):
        multilabel_smoothing_loss(x, y, strategy="positive_split", epsilon=0.1)
    t, m = smooth_targets(y, strategy="uniform", epsilon=0.1, empty_rows="skip", return_mask=True)
    assert (t[1] == 0).all() and not m[1].any() and m[0].all()
    loss = multilabel_smoothing_loss(x, y, strategy="uniform", epsilon=0.1, empty_rows="skip")
    ref = multilabel_smoothing_loss(x[:1], y[:1], strategy="uniform", epsilon=0.1)
    torch.testing.assert_close(loss, ref)  # the skipped row is out of the mean as well
    for s in ("uniform", "positive_split"):
        t = smooth_targets(
            y, strategy=s, epsilon=0.1, empty_rows="renormalize", dtype=torch.float64
        )
        torch.testing.assert_close(t[1], torch.full((4,), 0.25, dtype=torch.float64))
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    t = smooth_targets(
        y,
        strategy="prior_softmax",
        epsilon=0.1,
        prior=p,
        empty_rows="renormalize",
        dtype=torch.float64,
    )
    torch.testing.assert_close(t[1], p)
    # sigmoid strategies define n = 0 rows: keep by default; renormalize is not theirs
    t = smooth_targets(y, strategy="binary", epsilon=0.1)
    torch.testing.assert_close(t[1], torch.full((4,), 0.05))
    with pytest.raises(ValueError, match=r"renormalize.*softmax strategies only"):
        smooth_targets(y, strategy="binary", epsilon=0.1, empty_rows="renormalize")
    with pytest.raises(ValueError, match=r"'keep' is not possible"):
        smooth_targets(y, strategy="uniform", epsilon=0.1, empty_rows="keep")
    with pytest.raises(ValueError, match=r"1 row"):
        smooth_targets(y, strategy="binary", epsilon=0.1, empty_rows="error")


def test_full_row_policies():
    y = torch.tensor([[1, 1, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"every known label positive.*full_rows"):
        smooth_targets(y, strategy="positive_split", epsilon=0.1)
    t = smooth_targets(
        y, strategy="positive_split", epsilon=0.1, full_rows="renormalize", dtype=torch.float64
    )
    torch.testing.assert_close(t[0], torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(t[1], torch.tensor([0.9, 0.05, 0.05], dtype=torch.float64))
    # a row that is full only among its known labels
    mask = torch.tensor([[False, False, False], [False, True, True]])
    with pytest.raises(ValueError, match=r"every known label positive"):
        smooth_targets(
            y, strategy="positive_split", epsilon=0.1, ignore_mask=mask, full_rows="error"
        )
    loss = multilabel_smoothing_loss(
        torch.zeros(2, 3),
        y,
        strategy="positive_split",
        epsilon=0.1,
        ignore_mask=mask,
        full_rows="skip",
    )
    assert loss.item() == 0.0  # both rows skipped: nothing contributes, the mean is 0


def test_all_unknown_row_contributes_nothing():
    y = torch.tensor([[1, 0, 1], [1, 0, 0]])
    mask = torch.tensor([[True, True, True], [False, False, False]])
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    for s in STRATEGIES:
        kw = kwargs_for(s, 0.1, 3, torch.Generator().manual_seed(0))
        loss = multilabel_smoothing_loss(x, y, strategy=s, ignore_mask=mask, **kw)
        ref = multilabel_smoothing_loss(x[1:], y[1:], strategy=s, **kw)
        torch.testing.assert_close(loss, ref)
        (g,) = torch.autograd.grad(loss, x)
        assert (g[0] == 0).all()


def test_sparse_and_dtypes():
    y = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0]])
    sp = PositiveIndices.from_lists([[0, 2], [1]], num_labels=4)
    for s in STRATEGIES:
        kw = kwargs_for(s, 0.2, 4, torch.Generator().manual_seed(0))
        a = smooth_targets(y, strategy=s, **kw)
        b = smooth_targets(sp, strategy=s, **kw)
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert a.dtype == torch.float32
    assert (
        smooth_targets(y.bool(), strategy="binary", epsilon=0.1, dtype=torch.float16).dtype
        == torch.float16
    )
    with pytest.raises(TypeError, match=r"dtype"):
        smooth_targets(y, strategy="binary", epsilon=0.1, dtype=torch.int64)


def test_caller_tensors_are_never_modified():
    """Soft float targets of the working dtype alias the input: masking must not write into it."""
    y = torch.tensor([[1.0, 0.5, -1.0, 0.0]])
    mask = torch.tensor([[False, False, False, True]])
    keep_y, keep_m = y.clone(), mask.clone()
    t = smooth_targets(
        y, strategy="binary", epsilon=0.2, ignore_index=-1.0, ignore_mask=mask, soft_targets=True
    )
    torch.testing.assert_close(t, torch.tensor([[0.9, 0.5, 0.0, 0.0]]))
    x = torch.zeros(1, 4, requires_grad=True)
    loss = multilabel_smoothing_loss(
        x, y, strategy="binary", epsilon=0.2, ignore_index=-1.0, ignore_mask=mask,
        soft_targets=True, reduction="none",
    )  # fmt: skip
    loss.sum().backward()
    assert x.grad[0, 2] == 0 and x.grad[0, 3] == 0
    assert torch.equal(y, keep_y) and torch.equal(mask, keep_m)
