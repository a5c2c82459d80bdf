"""The fused kernels against the closed-form PyTorch path and the textbook reference.

Runs on CUDA when present, else in Triton's CPU interpreter (see ``conftest.py``), at small
sizes. Tolerances (kernel vs the closed-form path on the same logits):

* float64 logits: ``rtol=1e-10, atol=1e-12`` (both compute in float64; summation order only);
  against the textbook loops the same;
* float32: ``rtol=1e-5``, ``atol=1e-6`` on the loss and ``1e-6·max(max|g|, 1/numel)`` on the
  gradient;
* bfloat16 / float16 logits (float32 accumulation in both paths): the float32 loss
  ``rtol=1e-5``; the gradient, rounded once to the logits' dtype by both, within one unit in the
  last place: ``rtol = 2^-7`` (bf16) / ``2^-10`` (fp16), ``atol`` the same times
  ``max(max|g|, 1/numel)``.
"""

from __future__ import annotations

import pytest
import torch

from multilabel_ls import STRATEGIES, PositiveIndices, multilabel_smoothing_loss
from multilabel_ls.strategies import get_strategy, make_config, row_coefficients

from ..reference import SIGMOID, textbook_loss
from ..test_losses import kwargs_for, random_batch, ref_kwargs

REDUCTIONS = ("mean", "sum", "none")
TOL = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-12},
    torch.float32: {"rtol": 1e-5, "atol": 1e-6},
    torch.bfloat16: {"rtol": 2**-7, "atol": 2**-7},
    torch.float16: {"rtol": 2**-10, "atol": 2**-10},
}


def run(backend, x, target, go=None, **kw):
    """``(loss, grad)`` of the public loss on one backend, or the exception it raised."""
    x = x.detach().clone().requires_grad_()
    try:
        loss = multilabel_smoothing_loss(x, target, backend=backend, **kw)
    except (ValueError, TypeError, RuntimeError) as e:
        return e
    if go is None:
        go = torch.ones_like(loss)
    (g,) = torch.autograd.grad(loss, x, go)
    return loss, g


def assert_same(x, target, seed=0, allow_error=False, **kw):
    """Kernel == closed form (loss and gradient); with ``allow_error`` both may raise instead,
    the same exception type with the same message."""
    ref = run("torch", x, target, **kw)
    if isinstance(ref, Exception):
        assert allow_error, ref
        got = run("triton", x, target, **kw)
        assert type(got) is type(ref) and str(got) == str(ref), (got, ref)
        return None
    gen = torch.Generator().manual_seed(seed)
    go = torch.rand(ref[0].shape, generator=gen, dtype=ref[0].dtype).to(x.device) + 0.5
    ref = run("torch", x, target, go=go, **kw)
    got = run("triton", x, target, go=go, **kw)
    assert not isinstance(got, Exception), got
    tol = TOL[x.dtype]
    loss_tol = TOL[torch.float64] if x.dtype == torch.float64 else TOL[torch.float32]
    torch.testing.assert_close(got[0], ref[0], **loss_tol)
    assert got[1].dtype == x.dtype and got[1].shape == x.shape
    # atol relative to the gradient's size; 1/numel is the size of a "mean" gradient element
    scale = max(float(ref[1].abs().max()) if ref[1].numel() else 0.0, 1.0 / max(x.numel(), 1))
    torch.testing.assert_close(got[1], ref[1], rtol=tol["rtol"], atol=tol["atol"] * scale)
    return got


def _options(strategy, B, N, gen, masked=True, weighted=True):
    kw = kwargs_for(strategy, 0.2 if not strategy.startswith("asym") else 0.1, N, gen)
    kw["strategy"] = strategy
    mask = None
    if masked:
        mask = torch.rand(B, N, generator=gen) < 0.25
        mask[:, : min(2, N)] = False
    if weighted:
        kw["weight"] = torch.rand(N, generator=gen, dtype=torch.float64) + 0.2
        if get_strategy(strategy).family == "sigmoid":
            kw["pos_weight"] = torch.rand(N, generator=gen, dtype=torch.float64) * 2
    return kw, mask


def _to(kw, device):
    return {
        k: v.to(device) if isinstance(v, torch.Tensor) and k != "prior" else v
        for k, v in kw.items()
    }


# --- every strategy, every reduction: closed form and textbook ----------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_matches_closed_form_and_textbook(strategy, reduction, device):
    gen = torch.Generator().manual_seed(STRATEGIES.index(strategy) * 7 + len(reduction))
    B, N = 4, 11
    x = torch.randn(B, N, generator=gen, dtype=torch.float64) * 3
    y = random_batch(B, N, gen)
    kw, mask = _options(strategy, B, N, gen)
    kwd = _to(kw, device)
    x, yd, maskd = x.to(device), y.to(device), mask.to(device)
    assert_same(x, yd, reduction=reduction, ignore_mask=maskd, **kwd)
    # and the textbook loops (float64, CPU), loss and gradient
    xr = x.detach().cpu().clone().requires_grad_()
    ref = textbook_loss(
        xr, y, strategy, known=~mask, weight=kw.get("weight"), pos_weight=kw.get("pos_weight"),
        reduction=reduction, **ref_kwargs(kw),
    )  # fmt: skip
    if reduction == "none":
        ref = (
            torch.stack([torch.stack(r) for r in ref]) if strategy in SIGMOID else torch.stack(ref)
        )
    xk = x.detach().clone().requires_grad_()
    loss = multilabel_smoothing_loss(
        xk, yd, reduction=reduction, ignore_mask=maskd, backend="triton", **kwd
    )
    torch.testing.assert_close(loss.cpu(), ref.detach(), **TOL[torch.float64])
    go = torch.rand(ref.shape, generator=gen, dtype=torch.float64)
    (gr,) = torch.autograd.grad(ref, xr, go)
    (gk,) = torch.autograd.grad(loss, xk, go.to(device))
    torch.testing.assert_close(gk.cpu(), gr, **TOL[torch.float64])


# --- sparse targets ------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_sparse_targets(strategy, device):
    gen = torch.Generator().manual_seed(100 + STRATEGIES.index(strategy))
    B, N = 5, 9
    x = (torch.randn(B, N, generator=gen, dtype=torch.float64) * 2).to(device)
    y = random_batch(B, N, gen)
    kw, mask = _options(strategy, B, N, gen)
    kw = _to(kw, device)
    sp = PositiveIndices.from_dense(y).to(device)
    for red, m in (("mean", None), ("mean", mask), ("sum", mask), ("none", mask)):
        m = None if m is None else m.to(device)
        assert_same(x, sp, reduction=red, ignore_mask=m, **kw)


def test_sparse_row_with_many_positives(device):
    """Rows with more positives than one sparse block (64), and an empty row."""
    gen = torch.Generator().manual_seed(5)
    B, N = 3, 300
    x = torch.randn(B, N, generator=gen, dtype=torch.float64).to(device)
    y = torch.zeros(B, N, dtype=torch.bool)
    y[0, :150] = True
    y[2, ::7] = True
    sp = PositiveIndices.from_dense(y).to(device)
    for s in ("mass_preserving", "binary", "unnormalized", "prior_softmax"):
        kw = kwargs_for(s, 0.1, N, gen)
        kw["empty_rows"] = "skip"
        assert_same(x, sp, strategy=s, **kw)


# --- shapes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (1, 5), (6, 1), (3, 37), (2, 5000)])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_odd_shapes(strategy, shape, device):
    """B = 0, N = 1, B = 1, N not a power of two, N over one block (2048) split in chunks.

    Where the strategy's default policy rejects a row (e.g. ``uniform`` with n = 0 when
    N = 1), both paths must raise the same error."""
    gen = torch.Generator().manual_seed(sum(shape) + STRATEGIES.index(strategy))
    B, N = shape
    x = (torch.randn(B, N, generator=gen) * 2).to(device)
    y = (torch.rand(B, N, generator=gen) < 0.3).to(device)
    kw = _to(kwargs_for(strategy, 0.1, N, gen), device)
    for red in ("mean", "none"):
        assert_same(x, y, strategy=strategy, reduction=red, allow_error=True, **kw)


@pytest.mark.parametrize("strategy", ["binary", "mass_preserving", "uniform", "prior_softmax"])
def test_more_than_65536_labels(strategy, device):
    """N > 65,536: a loop over column blocks and chunks (tiny B for the interpreter)."""
    gen = torch.Generator().manual_seed(3)
    B, N = 1, 70_001
    x = torch.randn(B, N, generator=gen).to(device)
    y = torch.rand(B, N, generator=gen) < 5 / N
    y[:, 0], y[:, -1] = True, False
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[:, 1000:1003] = True
    kw = _to(kwargs_for(strategy, 0.1, N, gen), device)
    assert_same(x, y.to(device), strategy=strategy, ignore_mask=mask.to(device), **kw)
    assert_same(x, PositiveIndices.from_dense(y).to(device), strategy=strategy, **kw)


@pytest.mark.parametrize("strategy", ["binary_uniform", "positive_split"])
def test_many_chunks_per_row(strategy, device, monkeypatch):
    """More than 64 chunks per row (two rounds of the per-row merge), via a tiny block."""
    from multilabel_ls.kernels import _common

    monkeypatch.setattr(_common, "MAX_BLOCK", 16)
    gen = torch.Generator().manual_seed(4)
    B, N = 2, 1500
    x = (torch.randn(B, N, generator=gen, dtype=torch.float64) * 4).to(device)
    y = random_batch(B, N, gen, p=0.01).to(device)
    geo = _common.geometry(B, N, 1)
    assert geo.chunks > 64 and geo.block == 16
    kw = _to(kwargs_for(strategy, 0.3, N, gen), device)
    assert_same(x, y, strategy=strategy, **kw)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_segmentation_layout(strategy, device):
    """(B, N, H, W): labels on dim 1 with trailing dims (rows are (b, h, w), stride H·W)."""
    gen = torch.Generator().manual_seed(9 + STRATEGIES.index(strategy))
    x = torch.randn(2, 5, 3, 4, generator=gen, dtype=torch.float64).to(device)
    y = (torch.rand(2, 5, 3, 4, generator=gen) < 0.4).long()
    y[:, 0], y[:, 1] = 1, 0
    mask = torch.rand(2, 5, 3, 4, generator=gen) < 0.2
    mask[:, :2] = False
    mask[1, :, 2, 3] = True  # a pixel with no known label
    kw = _to(kwargs_for(strategy, 0.15, 5, gen), device)
    for red in REDUCTIONS:
        assert_same(
            x, y.to(device), strategy=strategy, reduction=red, ignore_mask=mask.to(device), **kw
        )


# --- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_dtypes(strategy, dtype, device):
    gen = torch.Generator().manual_seed(20 + STRATEGIES.index(strategy))
    B, N = 3, 2100  # two blocks of 2048 per row
    x = (torch.randn(B, N, generator=gen) * 3).to(dtype).to(device)
    y = random_batch(B, N, gen, p=0.01).bool().to(device)
    kw, mask = _options(strategy, B, N, gen)
    kw = _to(kw, device)
    for red in ("mean", "none"):
        got = assert_same(x, y, reduction=red, ignore_mask=mask.to(device), **kw)
        assert got[0].dtype == torch.float32  # float32 loss for half inputs (as the torch path)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_fp32_accumulation_matches_float64_reference(dtype, device):
    """The half-precision loss is the float64 loss of the rounded logits to float32 accuracy."""
    gen = torch.Generator().manual_seed(11)
    x = (torch.randn(8, 3000, generator=gen) * 4).to(dtype)
    y = random_batch(8, 3000, gen, p=0.002)
    for s in ("binary", "uniform"):
        exact = multilabel_smoothing_loss(x.double(), y, strategy=s, epsilon=0.1, backend="torch")
        got = multilabel_smoothing_loss(
            x.to(device), y.to(device), strategy=s, epsilon=0.1, backend="triton"
        )
        torch.testing.assert_close(got.double().cpu(), exact, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_extreme_logits(strategy, dtype, device):
    x = torch.tensor([[1e4, -1e4, 0.0, 1e4], [-1e4, 1e4, -1e4, 5.0]], dtype=dtype).to(device)
    y = torch.tensor([[1, 0, 1, 0], [0, 0, 1, 1]]).to(device)
    kw = _to(kwargs_for(strategy, 0.1, 4, torch.Generator().manual_seed(0)), device)
    for red in REDUCTIONS:
        got = run("triton", x, y, strategy=strategy, reduction=red, **kw)
        assert torch.isfinite(got[0]).all() and torch.isfinite(got[1]).all()
        assert_same(x, y, strategy=strategy, reduction=red, **kw)


# --- target forms, masks, weights ----------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["binary", "mass_preserving", "uniform", "prior_softmax"])
def test_target_forms(strategy, device):
    """bool, uint8, int64, float 0/1, soft targets, ignore_index in int/float/uint8 targets."""
    gen = torch.Generator().manual_seed(30)
    B, N = 4, 13
    x = torch.randn(B, N, generator=gen, dtype=torch.float64).to(device)
    y = random_batch(B, N, gen)
    kw = _to(kwargs_for(strategy, 0.2, N, gen), device)
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[1, 4] = mask[2, 7] = mask[3, 2] = True
    for dt in (torch.bool, torch.uint8, torch.int8, torch.int64, torch.float16, torch.float32):
        assert_same(x, y.to(dt).to(device), strategy=strategy, **kw)
    assert_same(x, y.masked_fill(mask, -100).to(device), strategy=strategy, ignore_index=-100, **kw)
    assert_same(x, y.double().masked_fill(mask, -1.0).to(device), strategy=strategy, ignore_index=-1.0, **kw)  # fmt: skip
    assert_same(x, y.to(torch.uint8).masked_fill(mask, 255).to(device), strategy=strategy, ignore_index=255, **kw)  # fmt: skip
    soft = (y.double() * 0.7 + torch.rand(B, N, generator=gen, dtype=torch.float64) * 0.3).to(
        device
    )
    assert_same(x, soft, strategy=strategy, soft_targets=True, **kw)
    assert_same(x, soft.masked_fill(mask.to(device), -1.0), strategy=strategy, soft_targets=True, ignore_index=-1.0, ignore_mask=mask.to(device), **kw)  # fmt: skip


def test_invalid_target_values_raise_the_same_error(device):
    x = torch.randn(3, 6, dtype=torch.float64).to(device)
    y = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 2, 0, 0, 1, 0], [1, 0, 0, 0, 0, 1]])
    yf = y.double()
    yf[1, 1] = float("nan")
    ys = y.double() * 0.5
    ys[2, 3] = 1.5
    for s in ("binary", "mass_preserving", "uniform", "unnormalized"):
        for tgt, extra in ((y, {}), (yf, {}), (ys, {"soft_targets": True}), (y - 1, {})):
            kw = kwargs_for(s, 0.1, 6, None)
            ref = run("torch", x, tgt.to(device), strategy=s, **kw, **extra)
            assert isinstance(ref, ValueError)
            assert_same(x, tgt.to(device), strategy=s, allow_error=True, **kw, **extra)
        # validate=False: the same (unchecked) result on both paths
        assert_same(x, y.to(device), strategy=s, validate=False, **kwargs_for(s, 0.1, 6, None))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_row_policies(strategy, device):
    """Empty (n = 0) and full (n = N) rows under every policy: same losses, same errors."""
    gen = torch.Generator().manual_seed(40)
    B, N = 5, 6
    x = torch.randn(B, N, generator=gen, dtype=torch.float64).to(device)
    y = random_batch(B, N, gen)
    y[1] = 0  # an empty row
    y[3] = 1  # a full row
    mask = torch.zeros(B, N, dtype=torch.bool)
    mask[4, 2:] = True
    y[4, 2:] = 1  # masked positives: row 4 has one known positive and one known negative
    mask[2, :] = True  # a row with no known label
    fam = get_strategy(strategy).family
    policies = ("keep", "skip", "error") + (("renormalize",) if fam == "softmax" else ())
    kw = _to(kwargs_for(strategy, 0.2, N, gen), device)
    combos = [(p, "skip") for p in policies] + [("skip", p) for p in policies] + [(None, None)]
    for er, fr in combos:
        try:
            make_config(strategy, **{k: v for k, v in kw.items() if k != "prior"},
                        prior=kw.get("prior"), empty_rows=er, full_rows=fr)  # fmt: skip
        except ValueError:
            continue  # 'keep' where the strategy is undefined
        reductions = ("mean", "none") if "renormalize" in (er, fr) or er == fr else ("mean",)
        for red in reductions:
            assert_same(x, y.to(device), strategy=strategy, reduction=red, empty_rows=er,
                        full_rows=fr, ignore_mask=mask.to(device), allow_error=True, **kw)  # fmt: skip


def test_zero_weights_and_all_unknown(device):
    gen = torch.Generator().manual_seed(41)
    x = torch.randn(3, 8, generator=gen, dtype=torch.float64).to(device)
    y = random_batch(3, 8, gen).to(device)
    w = torch.zeros(8, dtype=torch.float64)
    w[:3] = 1.0
    allmask = torch.ones(3, 8, dtype=torch.bool).to(device)
    for s in STRATEGIES:
        kw = _to(kwargs_for(s, 0.1, 8, gen), device)
        assert_same(x, y, strategy=s, weight=w.to(device), **kw)
        red = "none" if s in ("binary", "uniform") else "mean"
        assert_same(x, y, strategy=s, ignore_mask=allmask, reduction=red, **kw)


def test_shared_coefficients_read_neither_n_nor_u():
    """The sigmoid path skips the target pass and computes the coefficients once on the host
    when they read neither n nor U (``needs_row_counts`` False): check that for those
    strategies (with "keep" policies) ``a, b, c, valid`` do not depend on n or U."""
    from multilabel_ls.kernels._common import needs_row_counts

    n = torch.tensor([0.0, 1.0, 3.0, 5.0])
    N = torch.tensor([5.0, 5.0, 5.0, 5.0])
    U = torch.tensor([1.5, 0.2, 4.0, 5.0])
    shared = []
    for s in STRATEGIES:
        kw = kwargs_for(s, 0.3, 5, torch.Generator().manual_seed(0))
        cfg = make_config(s, **kw)
        if needs_row_counts(cfg):
            continue
        shared.append(s)
        ref = row_coefficients(cfg, n, N, U)
        got = row_coefficients(cfg, torch.zeros_like(n), N, N)
        for f in ("a", "b", "c", "valid"):
            torch.testing.assert_close(getattr(got, f), getattr(ref, f), rtol=0, atol=0)
    assert set(shared) >= {"binary", "binary_uniform", "asymmetric", "prior"}
