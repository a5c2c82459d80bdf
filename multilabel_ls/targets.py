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

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from .sparse import PositiveIndices
from .strategies import RowCoefficients, SmoothingConfig, make_config, row_coefficients

#: Elements per block: large enough to amortise per-op overhead, small enough that a block's
#: temporaries stay a few percent of a large logits tensor (the memory bar is 1.2x the logits).
BLOCK_ELEMENTS = 1 << 16

Index = tuple[slice, ...]


def canonical_view(x: torch.Tensor) -> torch.Tensor:
    """View ``(B, N)`` as is and ``(B, N, d1, ...)`` as ``(B, N, R)`` with ``R = d1*...``."""
    if x.ndim == 2:
        return x
    return x.reshape(x.shape[0], x.shape[1], -1)


def iter_blocks(shape: torch.Size | tuple[int, ...]) -> Iterator[Index]:
    """Yield index tuples covering a canonical ``(B, N)`` or ``(B, N, R)`` shape by whole rows.

    A block never splits a row (all ``N`` labels of a row are in one block).
    """
    B, N = shape[0], shape[1]
    if len(shape) == 2:
        step = max(1, BLOCK_ELEMENTS // max(N, 1))
        for r in range(0, B, step):
            yield (slice(r, min(r + step, B)),)
        return
    R = shape[2]
    if N * R <= BLOCK_ELEMENTS:
        step = max(1, BLOCK_ELEMENTS // max(N * R, 1))
        for r in range(0, B, step):
            yield (slice(r, min(r + step, B)), slice(None), slice(None))
        return
    step = max(1, BLOCK_ELEMENTS // max(N, 1))
    for b in range(B):
        for q in range(0, R, step):
            yield (slice(b, b + 1), slice(None), slice(q, min(q + step, R)))


class DenseSource:
    """A dense target (validated block by block)."""

    def __init__(
        self,
        target: torch.Tensor,
        *,
        ignore_index: float | int | None,
        ignore_mask: torch.Tensor | None,
        soft: bool,
        validate: bool,
    ) -> None:
        self.target = canonical_view(target)
        self.mask = None if ignore_mask is None else canonical_view(ignore_mask)
        self.ignore_index = ignore_index
        self.soft = soft
        self.validate = validate
        self.shape = self.target.shape

    @property
    def has_unknown(self) -> bool:
        return self.mask is not None or self.ignore_index is not None

    def block(self, idx: Index, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``y`` (``dtype``, 0 at unknown labels) and the known mask (None: all known)."""
        raw = self.target[idx]
        known = None
        if self.ignore_index is not None:
            known = raw != self.ignore_index
        if self.mask is not None:
            m = ~self.mask[idx]
            known = m if known is None else known & m
        if self.validate and raw.dtype != torch.bool:
            self._check(raw, known)
        y = raw.to(dtype)
        if known is not None:
            y = y.masked_fill(~known, 0.0)
        return y, known

    def _check(self, raw: torch.Tensor, known: torch.Tensor | None) -> None:
        if raw.dtype.is_floating_point:
            nan = torch.isnan(raw)
            if bool(nan.any()):
                raise ValueError("target contains NaN")
        vals = raw if known is None else raw[known]
        if self.soft and raw.dtype.is_floating_point:
            bad = (vals < 0) | (vals > 1)
            what = "in [0, 1]"
        else:
            bad = (vals != 0) & (vals != 1)
            what = "in {0, 1}" + ("" if raw.dtype.is_floating_point else " for an integer target")
        if bool(bad.any()):
            v = vals[bad][0].item()
            hint = ""
            if not self.soft and raw.dtype.is_floating_point and 0 < v < 1:
                hint = " (pass soft_targets=True for soft targets; do not smooth them twice)"
            elif v < 0 and self.ignore_index is None:
                hint = f" (pass ignore_index={v!r} if it marks unknown labels)"
            raise ValueError(f"target values must be {what}, found {v!r}{hint}")


class SparseSource:
    """Sparse positive indices, densified one block of rows at a time."""

    def __init__(self, target: PositiveIndices, *, ignore_mask: torch.Tensor | None) -> None:
        self.target = target
        self.mask = ignore_mask
        self.shape = torch.Size(target.shape)
        self.soft = False

    @property
    def has_unknown(self) -> bool:
        return self.mask is not None

    def block(self, idx: Index, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        rows = idx[0]
        start, stop = rows.start, rows.stop
        local, labels = self.target.rows(start, stop)
        y = torch.zeros(stop - start, self.shape[1], dtype=dtype, device=self.target.device)
        y[local, labels] = 1.0
        known = None
        if self.mask is not None:
            known = ~self.mask[idx]
            y = y.masked_fill(~known, 0.0)
        return y, known


Source = DenseSource | SparseSource


def make_source(
    target: torch.Tensor | PositiveIndices,
    shape: torch.Size,
    device: torch.device,
    *,
    ignore_index: float | int | None = None,
    ignore_mask: torch.Tensor | None = None,
    soft_targets: bool = False,
    validate: bool = True,
    target_name: str = "target",
) -> Source:
    """Validate a target against the expected (logits) ``shape`` and wrap it as a source."""
    if ignore_mask is not None:
        if not isinstance(ignore_mask, torch.Tensor) or ignore_mask.dtype != torch.bool:
            raise TypeError(
                f"ignore_mask must be a bool tensor (True = unknown label), got "
                f"{type(ignore_mask).__name__}{'' if not isinstance(ignore_mask, torch.Tensor) else ' of dtype ' + str(ignore_mask.dtype)}"
            )
        if ignore_mask.shape != shape:
            raise ValueError(
                f"ignore_mask shape {tuple(ignore_mask.shape)} does not match logits shape {tuple(shape)}"
            )
        if ignore_mask.device != device:
            raise ValueError(f"ignore_mask is on {ignore_mask.device} but logits are on {device}")
    if isinstance(target, PositiveIndices):
        if len(shape) != 2:
            raise ValueError(
                f"sparse PositiveIndices targets need 2-D logits (B, N), got shape {tuple(shape)}"
            )
        if target.shape != tuple(shape):
            raise ValueError(
                f"{target_name} has shape {target.shape} (rows, num_labels) but logits have {tuple(shape)}"
            )
        if target.device != device:
            raise ValueError(f"{target_name} is on {target.device} but logits are on {device}")
        if ignore_index is not None:
            raise ValueError(
                "ignore_index applies to dense targets; with PositiveIndices use ignore_mask"
            )
        if soft_targets:
            raise ValueError("soft_targets=True needs a dense target; PositiveIndices are hard")
        return SparseSource(target, ignore_mask=ignore_mask)
    if not isinstance(target, torch.Tensor):
        raise TypeError(
            f"{target_name} must be a torch.Tensor or PositiveIndices, got {type(target).__name__}"
        )
    if target.is_complex():
        raise TypeError(
            f"{target_name} must be bool, integer or floating, got dtype {target.dtype}"
        )
    if target.shape != shape:
        raise ValueError(
            f"{target_name} shape {tuple(target.shape)} does not match logits shape {tuple(shape)}"
        )
    if target.device != device:
        raise ValueError(f"{target_name} is on {target.device} but logits are on {device}")
    if target.requires_grad:
        raise ValueError(
            f"{target_name}.requires_grad is True: the loss gives no gradient for the target; "
            "pass target.detach()"
        )
    if ignore_index is not None:
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, float)):
            raise TypeError(f"ignore_index must be a number or None, got {ignore_index!r}")
        if ignore_index in (0, 1):
            raise ValueError(f"ignore_index={ignore_index!r} collides with a target value 0/1")
        if target.dtype == torch.bool:
            raise ValueError("ignore_index cannot mark a bool target; use ignore_mask")
    if soft_targets and not target.dtype.is_floating_point:
        raise ValueError(f"soft_targets=True needs a floating target, got dtype {target.dtype}")
    return DenseSource(
        target,
        ignore_index=ignore_index,
        ignore_mask=ignore_mask,
        soft=soft_targets,
        validate=validate,
    )


def prior_view(config: SmoothingConfig, ndim: int, device: torch.device, dtype: torch.dtype):
    """The prior as a tensor broadcastable against a canonical block (None without a prior)."""
    if config.prior is None:
        return None
    u = config.prior.to(device=device, dtype=dtype)
    return u.view(1, -1) if ndim == 2 else u.view(1, -1, 1)


@dataclass
class Block:
    """The smoothed targets of one block of rows and their coefficients."""

    y: torch.Tensor
    known: torch.Tensor | None
    target: torch.Tensor  # t, 0 at unknown labels and in invalid rows
    coef: RowCoefficients


def block_targets(
    config: SmoothingConfig, source: Source, idx: Index, dtype: torch.dtype, u: torch.Tensor | None
) -> Block:
    """Smoothed targets ``t = a u + b y + c (1 - y)`` of a block (see :mod:`.strategies`)."""
    y, known = source.block(idx, dtype)
    n = y.sum(1, keepdim=True)
    N_all = y.shape[1]
    if known is None:
        N = torch.full_like(n, float(N_all))
        U = N if u is None else torch.full_like(n, float(u.sum()))
    else:
        N = known.sum(1, keepdim=True).to(dtype)
        U = N if u is None else (known * u).sum(1, keepdim=True)
    coef = row_coefficients(config, n, N, U)
    t = coef.b * y
    if bool((coef.c != 0).any()):
        t = t + coef.c * (1.0 - y)
    t = t + (coef.a if u is None else coef.a * u)
    keep = coef.valid if known is None else (known & coef.valid)
    t = torch.where(keep, t, torch.zeros((), dtype=dtype, device=t.device))
    return Block(y=y, known=known, target=t, coef=coef)


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
    ``prior_softmax``     (1-ε)/n + επ_j/Σπ    επ_j/Σπ         1
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
    >>> smooth_targets(y, strategy="uniform", epsilon=0.2).tolist()
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
    u = prior_view(config, len(source.shape), device, work)
    out = torch.empty(source.shape, dtype=dtype, device=device)
    mask = torch.empty(source.shape, dtype=torch.bool, device=device) if return_mask else None
    for idx in iter_blocks(source.shape):
        blk = block_targets(config, source, idx, work, u)
        out[idx] = blk.target
        if mask is not None:
            keep = blk.coef.valid if blk.known is None else blk.known & blk.coef.valid
            mask[idx] = keep.expand_as(blk.target)
    out = out.view(shape)
    if mask is not None:
        return out, mask.view(shape)
    return out
