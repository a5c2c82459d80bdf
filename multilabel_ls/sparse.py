"""Sparse multi-hot targets: the positive label indices of each row (CSR layout).

For extreme multi-label problems (10^4 - 10^6 labels, a handful of positives per row) a dense
``(B, N)`` target wastes memory and bandwidth. :class:`PositiveIndices` stores, for ``B`` rows,
the concatenated positive indices and ``B + 1`` row offsets, exactly like the ``indices`` /
``indptr`` arrays of a CSR matrix: the positives of row ``i`` are
``indices[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import torch

from .strategies import _brief


def _row_indices(i: int, row: object) -> torch.Tensor:
    """Row ``i`` of :meth:`PositiveIndices.from_lists` as an int64 tensor, never truncated."""
    bad = TypeError(
        f"rows[{i}] must be a flat sequence of integer label indices, got {_brief(row)}"
    )
    mask_hint = "rows hold label indices, not a mask (use PositiveIndices.from_dense for one)"
    if isinstance(row, (list, tuple)):
        for v in row:
            if isinstance(v, (bool, np.bool_)):
                raise TypeError(f"rows[{i}] holds the boolean {v!r}; {mask_hint}")
            if not isinstance(v, numbers.Real) and not (
                isinstance(v, (torch.Tensor, np.ndarray)) and v.ndim == 0  # checked below
            ):
                raise bad
        try:
            row = np.asarray(row)  # int64 for ints, float64 (exact) as soon as one is a float
        except (TypeError, ValueError, OverflowError) as e:
            raise bad from e
    elif not isinstance(row, (torch.Tensor, np.ndarray)):
        if isinstance(row, numbers.Number):
            raise TypeError(
                f"rows[{i}] is the single number {row!r}, not a sequence: pass one sequence of "
                "indices per row (e.g. [[3, 4]] for one row with positives 3 and 4)"
            )
        raise bad
    try:
        t = torch.as_tensor(row)
    except (TypeError, ValueError, RuntimeError) as e:
        raise bad from e
    if t.ndim != 1:
        raise bad
    if t.dtype == torch.bool:
        raise TypeError(f"rows[{i}] has dtype bool; {mask_hint}")
    if t.is_complex():
        raise bad
    if t.dtype.is_floating_point:
        frac = ~torch.isfinite(t) | (t != torch.round(t))
        if bool(frac.any()):
            k = int(frac.nonzero()[0])
            raise TypeError(
                f"rows[{i}] holds the non-integer index {t[k].item()!r} (position {k}); label "
                "indices must be integers (nothing is truncated)"
            )
    return t.to(torch.int64)


class PositiveIndices:
    """Positive label indices per row, in CSR form.

    Parameters
    ----------
    indices:
        1-D integer tensor of length ``nnz``: the positive label indices, row after row. Order
        within a row is free; duplicates within a row are an error.
    offsets:
        1-D integer tensor of length ``B + 1`` with ``offsets[0] = 0``, non-decreasing,
        ``offsets[-1] = nnz``.
    num_labels:
        ``N``, the number of labels (a positive Python or NumPy integer); every index must lie
        in ``[0, N)``.
    validate:
        Check the invariants above (one pass over the indices). Pass ``False`` only for data
        that is known to be valid.

    Examples
    --------
    >>> t = PositiveIndices.from_lists([[0, 2], [], [1]], num_labels=3)
    >>> t.to_dense().int().tolist()
    [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    """

    def __init__(
        self,
        indices: torch.Tensor,
        offsets: torch.Tensor,
        num_labels: int,
        *,
        validate: bool = True,
    ) -> None:
        if (
            isinstance(num_labels, bool)
            or not isinstance(num_labels, numbers.Integral)
            or num_labels < 1
        ):
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        num_labels = int(num_labels)
        indices = torch.as_tensor(indices)
        offsets = torch.as_tensor(offsets, device=indices.device)
        for name, t in (("indices", indices), ("offsets", offsets)):
            if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
                raise TypeError(f"{name} must be an integer tensor, got dtype {t.dtype}")
            if t.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
        self.indices = indices.to(torch.int64)
        self.offsets = offsets.to(torch.int64)
        self.num_labels = num_labels
        if validate:
            self._validate()

    def _validate(self) -> None:
        off, idx, N = self.offsets, self.indices, self.num_labels
        if off.numel() < 1:
            raise ValueError("offsets must have length B + 1 >= 1")
        if int(off[0]) != 0:
            raise ValueError(f"offsets[0] must be 0, got {int(off[0])}")
        if int(off[-1]) != idx.numel():
            raise ValueError(
                f"offsets[-1] must equal len(indices) = {idx.numel()}, got {int(off[-1])}"
            )
        if off.numel() > 1 and bool((off[1:] < off[:-1]).any()):
            i = int((off[1:] < off[:-1]).nonzero()[0])
            raise ValueError(f"offsets must be non-decreasing; offsets[{i + 1}] < offsets[{i}]")
        if idx.numel():
            bad = (idx < 0) | (idx >= N)
            if bool(bad.any()):
                k = int(bad.nonzero()[0])
                row = (
                    int(torch.searchsorted(off, torch.tensor(k, device=off.device), right=True)) - 1
                )
                raise ValueError(
                    f"positive index out of range: indices[{k}] = {int(idx[k])} (row {row}) "
                    f"is not in [0, num_labels={N})"
                )
            keys = self.row_ids() * N + idx
            if torch.unique(keys).numel() != keys.numel():
                raise ValueError("duplicate positive index within a row")

    # -- constructors -------------------------------------------------------------------------
    @classmethod
    def from_lists(
        cls,
        rows: Iterable[Sequence[int] | torch.Tensor],
        num_labels: int,
        *,
        device: torch.device | str | None = None,
    ) -> PositiveIndices:
        """Build from one sequence of positive indices per row.

        Parameters
        ----------
        rows:
            An iterable with one entry per row: a flat list or tuple of Python or NumPy integers,
            or a 1-D integer NumPy array or torch tensor (a 2-D array or tensor is read row by
            row). Integral floats (``2.0``) are accepted; non-integral or non-finite floats,
            booleans, strings, bare numbers and nested sequences raise ``TypeError`` naming the
            row and the value (nothing is truncated or rounded).
        num_labels:
            ``N``, a positive Python or NumPy integer; every index must lie in ``[0, N)``.
        device:
            Where the result lives (default: the CPU).
        """
        if isinstance(rows, (str, bytes)) or getattr(rows, "ndim", 2) < 2:
            raise TypeError(
                "rows must be a sequence of rows (one sequence of label indices per row), "
                f"got {_brief(rows)}; for a single row pass [row]"
            )
        rows = [_row_indices(i, r) for i, r in enumerate(rows)]
        counts = torch.tensor([r.numel() for r in rows], dtype=torch.int64)
        offsets = torch.zeros(len(rows) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(counts, 0)
        indices = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.int64)
        return cls(indices.to(device), offsets.to(device), num_labels)

    @classmethod
    def from_dense(cls, target: torch.Tensor) -> PositiveIndices:
        """Build from a dense ``(B, N)`` hard multi-hot tensor (entries equal to 1 are positives).

        ``target`` must be a 2-D torch tensor of dtype bool, integer or floating holding only 0
        and 1 (anything else, e.g. a soft target, a NaN or an ``ignore_index`` value such as
        ``-100``, raises ``ValueError`` naming the entry; mark unknown labels with
        ``ignore_mask`` instead).
        """
        if not isinstance(target, torch.Tensor):
            raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
        if target.ndim != 2:
            raise ValueError(f"target must be 2-D (B, N), got shape {tuple(target.shape)}")
        if target.is_complex():
            raise TypeError(f"target must be bool, integer or floating, got dtype {target.dtype}")
        if target.dtype != torch.bool:
            bad = (target != 0) & (target != 1)
            if bool(bad.any()):
                i, j = (int(v) for v in bad.nonzero()[0])
                raise ValueError(
                    f"target must hold only 0 and 1 (hard labels), but target[{i}, {j}] = "
                    f"{target[i, j].item()!r}; mark unknown labels with ignore_mask"
                )
        nz = target.nonzero()
        counts = torch.bincount(nz[:, 0], minlength=target.shape[0])
        offsets = torch.zeros(target.shape[0] + 1, dtype=torch.int64, device=target.device)
        offsets[1:] = torch.cumsum(counts, 0)
        return cls(nz[:, 1].contiguous(), offsets, target.shape[1], validate=False)

    # -- views -------------------------------------------------------------------------------
    @property
    def num_rows(self) -> int:
        return self.offsets.numel() - 1

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_rows, self.num_labels)

    @property
    def device(self) -> torch.device:
        return self.indices.device

    @property
    def nnz(self) -> int:
        return self.indices.numel()

    def counts(self) -> torch.Tensor:
        """Number of positives per row, shape ``(B,)``."""
        return self.offsets[1:] - self.offsets[:-1]

    def row_ids(self) -> torch.Tensor:
        """Row of every stored index, shape ``(nnz,)``."""
        return torch.repeat_interleave(
            torch.arange(self.num_rows, device=self.device), self.counts(), output_size=self.nnz
        )

    def to(self, device: torch.device | str) -> PositiveIndices:
        return PositiveIndices(
            self.indices.to(device), self.offsets.to(device), self.num_labels, validate=False
        )

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Local row ids and label indices of the positives of rows ``start:stop``."""
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        counts = self.offsets[start + 1 : stop + 1] - self.offsets[start:stop]
        local = torch.repeat_interleave(
            torch.arange(stop - start, device=self.device), counts, output_size=hi - lo
        )
        return local, self.indices[lo:hi]

    def to_dense(self, dtype: torch.dtype = torch.bool) -> torch.Tensor:
        """The dense ``(B, N)`` multi-hot tensor."""
        out = torch.zeros(self.shape, dtype=dtype, device=self.device)
        out[self.row_ids(), self.indices] = 1
        return out

    def __repr__(self) -> str:
        return f"PositiveIndices(num_rows={self.num_rows}, num_labels={self.num_labels}, nnz={self.nnz})"
