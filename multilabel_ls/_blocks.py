"""Reading targets block by block: dense, masked and sparse targets behind one interface.

Logits and targets are viewed in a canonical layout, ``(B, N)`` or ``(B, N, R)`` (labels on
dim 1), and walked in blocks of whole rows (:func:`iter_blocks`). A *source* wraps the user's
target; ``source.block(idx)`` returns a :class:`BlockTarget`, which answers the only questions
the loss and the target transform ask of a target:

* ``positives()``: ``n``, the (soft) number of known positives per row;
* ``known_count()``, ``known_sum(v)``: ``N`` and ``Σ_known v_j`` per row;
* ``dot(h)``: ``Σ_j y_j h_j`` per row;
* ``add_to(g, coef, w)``: ``g += coef · w · y`` in place.

Dense targets answer with masked tensor ops; :class:`~multilabel_ls.sparse.PositiveIndices`
answer from the positive indices alone (a gather and a scatter), never building a dense
target (derivation ``D1.6``: ``Σ_j y_j h_j = Σ_{j ∈ pos} h_j``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import torch

from .sparse import PositiveIndices

#: Elements per block: large enough to amortise per-op overhead, small enough that a block's
#: temporaries stay a few percent of a large logits tensor (the memory bar is 1.2x the logits).
BLOCK_ELEMENTS = 1 << 17

Index = tuple[slice, ...]


def canonical_view(x: torch.Tensor) -> torch.Tensor:
    """View ``(B, N)`` as is and ``(B, N, d1, ...)`` as ``(B, N, R)`` with ``R = d1*...``."""
    if x.ndim == 2:
        return x
    return x.reshape(x.shape[0], x.shape[1], -1)


def row_shape(shape: torch.Size | tuple[int, ...]) -> tuple[int, ...]:
    """Shape of per-row statistics for a canonical shape: ``(B, 1)`` or ``(B, 1, R)``."""
    return (shape[0], 1, *shape[2:])


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


class DenseBlock:
    """One block of a dense target: ``y`` (bool for hard targets, float for soft) and ``known``."""

    def __init__(self, y: torch.Tensor, known: torch.Tensor | None, work: torch.dtype) -> None:
        self.y, self.known, self.work = y, known, work
        self._yf: torch.Tensor | None = None

    @property
    def yf(self) -> torch.Tensor:
        """``y`` as a float tensor (cached)."""
        if self._yf is None:
            self._yf = self.y.to(self.work)
        return self._yf

    def positives(self) -> torch.Tensor:
        return self.y.sum(1, keepdim=True, dtype=self.work)

    def known_count(self) -> torch.Tensor:
        if self.known is None:
            shape = list(self.y.shape)
            shape[1] = 1
            return torch.full(shape, float(self.y.shape[1]), dtype=self.work, device=self.y.device)
        return self.known.sum(1, keepdim=True, dtype=self.work)

    def known_sum(self, v: torch.Tensor) -> torch.Tensor:
        """``Σ_known v_j`` per row for a label vector ``v`` shaped ``(1, N[, 1])``."""
        if self.known is None:
            shape = list(self.y.shape)
            shape[1] = 1
            return v.sum(1, keepdim=True).expand(shape)
        return (self.known * v).sum(1, keepdim=True)

    def mask(self, h: torch.Tensor) -> torch.Tensor:
        """``h`` with unknown labels set to 0 (in place when possible)."""
        return h if self.known is None else h.masked_fill_(~self.known, 0.0)

    def dot(self, h: torch.Tensor) -> torch.Tensor:
        """``Σ_j y_j h_j`` per row (``y`` is already 0 at unknown labels)."""
        if self.y.dtype == torch.bool:
            return torch.where(self.y, h, 0.0).sum(1, keepdim=True)
        return (self.yf * h).sum(1, keepdim=True)

    def add_to(self, g: torch.Tensor, coef: torch.Tensor, w: torch.Tensor | None = None) -> None:
        """``g += coef · w · y`` in place (``coef`` per row, ``w`` per label or None)."""
        yw = self.yf if w is None else self.yf * w
        g.addcmul_(yw, coef)

    def values(self) -> torch.Tensor:
        """Dense float ``y`` (0 at unknown labels)."""
        return self.yf


class SparseBlock:
    """One block of a sparse target: the (local row, label) pairs of its known positives."""

    def __init__(
        self,
        rows: torch.Tensor,
        labels: torch.Tensor,
        nrows: int,
        N: int,
        known: torch.Tensor | None,
        work: torch.dtype,
    ) -> None:
        if known is not None:
            keep = known[rows, labels]
            rows, labels = rows[keep], labels[keep]
        self.rows, self.labels, self.nrows, self.N = rows, labels, nrows, N
        self.known, self.work = known, work

    def positives(self) -> torch.Tensor:
        n = torch.bincount(self.rows, minlength=self.nrows).to(self.work)
        return n.view(-1, 1)

    def known_count(self) -> torch.Tensor:
        if self.known is None:
            return torch.full(
                (self.nrows, 1), float(self.N), dtype=self.work, device=self.rows.device
            )
        return self.known.sum(1, keepdim=True, dtype=self.work)

    def known_sum(self, v: torch.Tensor) -> torch.Tensor:
        if self.known is None:
            return v.sum(1, keepdim=True).expand(self.nrows, 1)
        return (self.known * v).sum(1, keepdim=True)

    def mask(self, h: torch.Tensor) -> torch.Tensor:
        return h if self.known is None else h.masked_fill_(~self.known, 0.0)

    def dot(self, h: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.nrows, dtype=h.dtype, device=h.device)
        out.index_add_(0, self.rows, h[self.rows, self.labels])
        return out.view(-1, 1)

    def add_to(self, g: torch.Tensor, coef: torch.Tensor, w: torch.Tensor | None = None) -> None:
        vals = coef.view(-1)[self.rows]
        if w is not None:
            vals = vals * w.view(-1)[self.labels]
        g.index_put_((self.rows, self.labels), vals.to(g.dtype), accumulate=True)

    def values(self) -> torch.Tensor:
        y = torch.zeros(self.nrows, self.N, dtype=self.work, device=self.rows.device)
        y[self.rows, self.labels] = 1.0
        return y


class DenseSource:
    """A dense target, validated block by block."""

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
        self.soft = soft and target.dtype.is_floating_point
        self.validate = validate
        self.shape = self.target.shape

    def block(self, idx: Index, work: torch.dtype, check: bool = True) -> DenseBlock:
        raw = self.target[idx]
        known = None
        if self.ignore_index is not None:
            known = raw != self.ignore_index
        if self.mask is not None:
            m = ~self.mask[idx]
            known = m if known is None else known & m
        if check and self.validate and raw.dtype != torch.bool:
            self._check(raw, known)
        if self.soft:
            y = raw.to(work)  # may alias the caller's tensor: never modify it in place
            if known is not None:
                y = y.masked_fill(~known, 0.0)
        else:
            y = raw if raw.dtype == torch.bool else raw == 1
            if known is not None:
                y = y & known
        return DenseBlock(y, known, work)

    def _check(self, raw: torch.Tensor, known: torch.Tensor | None) -> None:
        if raw.dtype.is_floating_point and bool(torch.isnan(raw).any()):
            raise ValueError("target contains NaN")
        vals = raw if known is None else raw[known]
        if self.soft:
            bad = (vals < 0) | (vals > 1)
            what = "in [0, 1]"
        else:
            bad = (vals != 0) & (vals != 1)
            what = "in {0, 1}" + ("" if raw.dtype.is_floating_point else " for an integer target")
        if bool(bad.any()):
            v = vals[bad][0].item()
            digits = {torch.float64: 17, torch.float32: 7}.get(raw.dtype, 4)
            shown = f"{v:.{digits}g}" if isinstance(v, float) else repr(v)
            hint = ""
            if not self.soft and raw.dtype.is_floating_point and 0 < v < 1:
                hint = " (pass soft_targets=True for soft targets; do not smooth them twice)"
            elif v < 0 and self.ignore_index is None:
                hint = f" (pass ignore_index={shown} if it marks unknown labels)"
            raise ValueError(f"target values must be {what}, found {shown}{hint}")


class SparseSource:
    """Sparse positive indices; blocks are (row, label) pairs, never dense."""

    def __init__(self, target: PositiveIndices, *, ignore_mask: torch.Tensor | None) -> None:
        self.target = target
        self.mask = ignore_mask
        self.shape = torch.Size(target.shape)
        self.soft = False

    def block(self, idx: Index, work: torch.dtype, check: bool = True) -> SparseBlock:
        start, stop = idx[0].start, idx[0].stop
        rows, labels = self.target.rows(start, stop)
        known = None if self.mask is None else ~self.mask[idx]
        return SparseBlock(rows, labels, stop - start, self.shape[1], known, work)


Source = DenseSource | SparseSource


def check_ignore_index(ignore_index):
    """Validate ``ignore_index`` (target-independent rules) and return it as an int or float.

    A number (int, float or NumPy scalar; not bool), not NaN (which matches nothing) and not
    0 or 1 (target values). ``None`` passes through. Raises ``TypeError`` / ``ValueError``
    naming ``ignore_index``.
    """
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Real):
        raise TypeError(
            "ignore_index must be a number (int, float or a NumPy integer/floating scalar) "
            f"or None, got {ignore_index!r}"
        )
    is_int = isinstance(ignore_index, numbers.Integral)
    ignore_index = int(ignore_index) if is_int else float(ignore_index)
    if ignore_index != ignore_index:
        raise ValueError(
            "ignore_index=nan would ignore nothing (NaN equals no target value); mark "
            "unknown labels with a finite value such as -100, or pass ignore_mask"
        )
    if ignore_index in (0, 1):
        raise ValueError(f"ignore_index={ignore_index!r} collides with a target value 0/1")
    return ignore_index


def make_source(
    target: torch.Tensor | PositiveIndices,
    shape: torch.Size,
    device: torch.device,
    *,
    ignore_index: float | int | None = None,
    ignore_mask: torch.Tensor | None = None,
    soft_targets: bool = False,
    validate: bool = True,
) -> Source:
    """Validate a target against the expected (logits) ``shape`` and wrap it as a source."""
    if ignore_mask is not None:
        if not isinstance(ignore_mask, torch.Tensor) or ignore_mask.dtype != torch.bool:
            got = type(ignore_mask).__name__
            if isinstance(ignore_mask, torch.Tensor):
                got += f" of dtype {ignore_mask.dtype}"
            raise TypeError(f"ignore_mask must be a bool tensor (True = unknown label), got {got}")
        if ignore_mask.shape != shape:
            raise ValueError(
                f"ignore_mask shape {tuple(ignore_mask.shape)} does not match logits shape "
                f"{tuple(shape)}"
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
                f"target has shape {target.shape} (rows, num_labels) but logits have {tuple(shape)}"
            )
        if target.device != device:
            raise ValueError(f"target is on {target.device} but logits are on {device}")
        if ignore_index is not None:
            raise ValueError(
                "ignore_index applies to dense targets; with PositiveIndices use ignore_mask"
            )
        if soft_targets:
            raise ValueError("soft_targets=True needs a dense target; PositiveIndices are hard")
        return SparseSource(target, ignore_mask=ignore_mask)
    if not isinstance(target, torch.Tensor):
        raise TypeError(
            f"target must be a torch.Tensor or PositiveIndices, got {type(target).__name__}"
        )
    if target.is_complex():
        raise TypeError(f"target must be bool, integer or floating, got dtype {target.dtype}")
    if target.shape != shape:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match logits shape {tuple(shape)}"
        )
    if target.device != device:
        raise ValueError(f"target is on {target.device} but logits are on {device}")
    if target.requires_grad:
        raise ValueError(
            "target.requires_grad is True: the loss gives no gradient for the target; "
            "pass target.detach()"
        )
    if ignore_index is not None:
        ignore_index = check_ignore_index(ignore_index)
        is_int = isinstance(ignore_index, int)
        if target.dtype == torch.bool:
            raise ValueError("ignore_index cannot mark a bool target; use ignore_mask")
        if not target.dtype.is_floating_point and not (is_int or ignore_index.is_integer()):
            raise ValueError(
                f"ignore_index={ignore_index!r} can never match an entry of the integer target "
                f"(dtype {target.dtype}); use an integer such as -100"
            )
    if soft_targets and not target.dtype.is_floating_point:
        raise ValueError(f"soft_targets=True needs a floating target, got dtype {target.dtype}")
    return DenseSource(
        target,
        ignore_index=ignore_index,
        ignore_mask=ignore_mask,
        soft=soft_targets,
        validate=validate,
    )


def label_view(v: torch.Tensor | None, ndim: int, dtype: torch.dtype, device=None):
    """A per-label vector shaped to broadcast against a canonical block (None stays None)."""
    if v is None:
        return None
    v = v.to(dtype=dtype, device=device)
    return v.view(1, -1) if ndim == 2 else v.view(1, -1, 1)


BlockTarget = DenseBlock | SparseBlock
