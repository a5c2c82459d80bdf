"""Target handling and the pure smoothing transform :func:`smooth_targets`.

Targets come in three forms, all read through one interface (a *target source*) that yields the
hard-or-soft multi-hot values ``y`` and the known-label mask of a block of rows:

* dense multi-hot: ``bool``, integer (values 0/1) or floating (values 0/1; any value in
  ``[0, 1]`` with ``soft_targets=True``), with the logits' shape ``(B, N, d1, ...)``;
* unknown labels marked by ``ignore_index`` (a value in the dense target) and/or ``ignore_mask``
  (a boolean tensor, True = unknown);
* sparse positive indices, :class:`~multilabel_ls.sparse.PositiveIndices`, for ``(B, N)``.

Unknown labels are removed from the row: ``N`` and ``n`` count known labels only, they get
target 0, and (softmax family) they are left out of the softmax. This is the rule for every
strategy: a row with unknown labels is smoothed exactly as the row restricted to its known
labels (derivation ``D1.5`` in ``derivations/01_targets.md``).

Rows are processed in blocks (:func:`iter_blocks`), so no full-size temporary beyond the output
is ever built.
"""

from __future__ import annotations

import torch

from ._blocks import (
    BlockTarget,
    Source,
    iter_blocks,
    label_view,
    make_source,
    row_shape,
)
from .sparse import PositiveIndices
from .strategies import RowCoefficients, SmoothingConfig, make_config, row_coefficients


def row_counts(
    blk: BlockTarget, u: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` (known positives), ``N`` (known labels) and ``U = Σ_known u`` of a block's rows."""
    n = blk.positives()
    N = blk.known_count()
    U = N if u is None else blk.known_sum(u)
    return n, N, U


def plan_rows(
    config: SmoothingConfig,
    source: Source,
    work: torch.dtype,
    u: torch.Tensor | None,
) -> RowCoefficients:
    """Coefficients of every row (one pass over the target); see :mod:`.strategies`."""
    return row_coefficients(config, *row_totals(source, work, u))


def row_totals(
    source: Source, work: torch.dtype, u: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`row_counts` of every row, ``(n, N, U)`` shaped ``(B, 1[, R])`` (one pass)."""
    shape = row_shape(source.shape)
    device = source.target.device
    n = torch.empty(shape, dtype=work, device=device)
    N = torch.empty(shape, dtype=work, device=device)
    U = torch.empty(shape, dtype=work, device=device)
    for idx in iter_blocks(source.shape):
        n[idx], N[idx], U[idx] = row_counts(source.block(idx, work), u)
    return n, N, U


def block_targets(
    blk: BlockTarget, coef: RowCoefficients, idx, u: torch.Tensor | None, out: torch.Tensor
) -> torch.Tensor:
    """Write ``t = a u + c + (b - c) y`` of a block into ``out`` (0 at unknown / invalid)."""
    a, b, c, valid = coef.a[idx], coef.b[idx], coef.c[idx], coef.valid[idx]
    out.copy_(blk.values())
    out.mul_(b - c).add_(c)
    if u is not None:
        out.addcmul_(a, u)
    else:
        out.add_(a)
    blk.mask(out)
    return out.mul_(valid)


def smooth_targets(
    target: torch.Tensor | PositiveIndices,
    *,
    strategy: str,
    epsilon: float | None = None,
    epsilon_pos: float | None = None,
    epsilon_neg: float | None = None,
    prior: torch.Tensor | None = None,
    ignore_index: float | int | None = None,
    ignore_mask: torch.Tensor | None = None,
    soft_targets: bool = False,
    empty_rows: str | None = None,
    full_rows: str | None = None,
    dtype: torch.dtype = torch.float32,
    return_mask: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Smoothed dense targets for a multi-label target (the pure transform).

    For each row (class dimension 1) with ``N`` known labels and ``n = sum_j y_j`` known
    positives the target of label ``j`` is ``t_j = a u_j + b y_j + c (1 - y_j)`` with the
    strategy's coefficients (``u`` = 1, or the prior):

    ====================  ===================  ==============  ======================
    strategy              positive             negative        sum of targets
    ====================  ===================  ==============  ======================
    ``binary``            1 - ε/2              ε/2             n(1-ε) + Nε/2
    ``binary_uniform``    1 - ε + ε/N          ε/N             n(1-ε) + ε
    ``mass_preserving``   1 - ε + εn/N         εn/N            n
    ``asymmetric``        1 - ε₊               ε₋              n(1-ε₊) + (N-n)ε₋
    ``prior``             1 - ε + επ_j         επ_j            n(1-ε) + εΣπ
    ``uniform``           (1-ε)/n + ε/N        ε/N             1
    ``positive_split``    (1-ε)/n              ε/(N-n)         1
    ``unnormalized``      1 - ε + ε/N          ε/N             n(1-ε) + ε
    ``asymmetric_softmax`` 1 - ε₊              ε₋              n(1-ε₊) + (N-n)ε₋
    ``prior_softmax``     (1-ε)/n + επ_j/Σπ    επ_j/Σπ         1  (Σπ over known labels)
    ====================  ===================  ==============  ======================

    Parameters
    ----------
    target:
        Dense ``(B, N, d1, ...)`` multi-hot (bool, integer 0/1, or float 0/1 — any value in
        ``[0, 1]`` with ``soft_targets=True``) or :class:`~multilabel_ls.PositiveIndices`
        for ``(B, N)``.
    strategy, epsilon, epsilon_pos, epsilon_neg, prior, empty_rows, full_rows:
        The smoothing configuration, see :func:`multilabel_ls.strategies.make_config`.
    ignore_index, ignore_mask:
        Unknown labels (a value in the dense target; a bool tensor, True = unknown). Unknown
        labels get target 0 and are not counted in ``N`` or ``n``.
    soft_targets:
        Accept soft targets in ``[0, 1]`` (e.g. after MixUp). Then ``n = Σ_j y_j`` (a real
        number) and the same formula applies; for strategies whose coefficients do not depend
        on ``n`` (and for ``mass_preserving``, linear in ``n``) smoothing commutes with mixing,
        for the normalising strategies the mixed target is normalised by its own mass.
    dtype:
        Floating dtype of the result (default float32).
    return_mask:
        Also return the bool mask of entries that enter the loss (known labels of valid rows).

    Returns
    -------
    Tensor of the target's (dense) shape and ``dtype``; with ``return_mask`` a pair
    ``(targets, mask)``. Unknown labels and rows dropped by the ``"skip"`` policy are 0 (and
    False in the mask).

    Raises
    ------
    ValueError, TypeError
        Unknown strategy, ε outside [0, 1], target values outside {0, 1} (or [0, 1]), NaN
        targets, shape or device mismatch, or a degenerate row under the ``"error"`` policy.

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([[1, 0, 0, 1]])
    >>> smooth_targets(y, strategy="uniform", epsilon=0.2, dtype=torch.float64).tolist()
    [[0.45, 0.05, 0.05, 0.45]]
    """
    config = make_config(
        strategy,
        epsilon=epsilon,
        epsilon_pos=epsilon_pos,
        epsilon_neg=epsilon_neg,
        prior=prior,
        empty_rows=empty_rows,
        full_rows=full_rows,
    )
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    shape = target.shape if isinstance(target, PositiveIndices) else getattr(target, "shape", None)
    device = target.device if isinstance(target, (torch.Tensor, PositiveIndices)) else None
    if shape is None or len(shape) < 2:
        raise ValueError(f"target must have shape (B, N, ...) with at least 2 dims, got {shape}")
    source = make_source(
        target,
        torch.Size(shape),
        device,
        ignore_index=ignore_index,
        ignore_mask=ignore_mask,
        soft_targets=soft_targets,
    )
    if config.prior is not None and config.prior.numel() != shape[1]:
        raise ValueError(f"prior has length {config.prior.numel()} but there are {shape[1]} labels")
    work = torch.float64 if dtype == torch.float64 else torch.float32
    u = label_view(config.prior, len(source.shape), work, device)
    coef = plan_rows(config, source, work, u)
    out = torch.empty(source.shape, dtype=dtype, device=device)
    for idx in iter_blocks(source.shape):
        blk = source.block(idx, work, check=False)  # validated by plan_rows
        dest = out[idx]
        if dtype == work:
            block_targets(blk, coef, idx, u, dest)
        else:
            buf = torch.empty(dest.shape, dtype=work, device=device)
            dest.copy_(block_targets(blk, coef, idx, u, buf))
    out = out.view(shape)
    if return_mask:
        mask = torch.empty(source.shape, dtype=torch.bool, device=device)
        for idx in iter_blocks(source.shape):
            blk = source.block(idx, work, check=False)
            keep = coef.valid[idx].expand(mask[idx].shape)
            mask[idx] = keep if blk.known is None else keep & blk.known
        return out, mask.view(shape)
    return out
