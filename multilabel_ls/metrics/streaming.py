"""Streaming metric objects: ``update`` per batch, ``compute``, ``reset``, ``merge``, DDP.

Each class holds configuration and state only; ``update`` runs the same validation and the
same private core as the matching function and ``compute`` the same final formula, so a
metric updated with all the data at once equals the function, and updating in k batches,
merging objects (:meth:`Metric.merge`) or merging processes equals one pass.

State sizes. Calibration, Brier, log loss, F1, Hamming and the ranking metrics keep sums
(per label and bin, per label, or a scalar) whose size does not depend on the amount of data.
Exact :class:`AveragePrecision` must keep every score and label (memory grows with the data,
as in torchmetrics' exact mode); with ``n_bins`` it keeps two counts per label and bin and
reports a certified error bound (:func:`binned_average_precision`).

Distributed. With ``torch.distributed`` initialised and more than one process,
``compute()`` merges the states of all processes of ``process_group`` (sums by
``all_reduce``, exact-AP scores by ``all_gather``) without changing the local state, so
every process must call ``compute()`` at the same point. Samples duplicated by a
distributed sampler's padding are counted twice, as with any DDP metric.
"""

from __future__ import annotations

import numpy as np
import torch

from . import calibration as _cal
from . import ranking as _rank
from . import threshold as _thr
from ._bins import uniform_interior_edges
from ._distributed import is_distributed, sync_states
from ._inputs import (
    Prepared,
    Probabilities,
    check_input_format,
    check_n_bins,
    check_option,
    is_torch,
    prepare,
)
from .average_precision import (
    AVERAGES,
    EMPTY_POLICIES,
    ap_from_prepared,
    binned_ap_from_counts,
    binned_counts,
)
from .reliability import ReliabilityDiagram


class Metric:
    """Base class of the streaming metrics.

    Lifecycle: ``update(y_true, y_score, *, ignore_mask=None)`` once per batch (same inputs
    and validation as the function), ``compute()`` for the value over everything seen (merged
    over processes when distributed), ``reset()`` to start again, ``merge(other)`` to fold in
    another object's data (e.g. from another data loader). State is kept as *sums* (NumPy
    arrays, merged by addition) and, for exact AP only, *concatenated* per-batch arrays.

    Parameters
    ----------
    sync_on_compute : bool, default True
        Merge the states of all processes of ``process_group`` in ``compute()`` when
        ``torch.distributed`` is initialised with more than one process. Every process must
        then call ``compute()``; the local state is left unchanged.
    process_group : torch.distributed.ProcessGroup, optional
        The group to merge over (default: the world).
    """

    _sum_names: tuple[str, ...] = ()
    _cat_names: tuple[str, ...] = ()

    def __init__(self, *, sync_on_compute: bool = True, process_group=None):
        self.sync_on_compute = sync_on_compute
        self.process_group = process_group
        self.reset()

    def reset(self) -> None:
        """Forget all data seen so far."""
        self._sums: dict = {n: None for n in self._sum_names}
        self._cats: dict = {n: [] for n in self._cat_names}
        self._shape: tuple | None = None  # (n_labels, was_1d) of the first update

    def _check_shape(self, data: Prepared) -> None:
        key = (data.shape[1], data.was_1d)
        if self._shape is None:
            self._shape = key
        elif key != self._shape:
            raise ValueError(
                f"this metric was updated with {self._shape[0]} labels"
                f"{' (1-D input)' if self._shape[1] else ''}; got {data.shape[1]}"
                f"{' (1-D input)' if data.was_1d else ''}"
            )

    def _add(self, **sums) -> None:
        for k, v in sums.items():
            v = np.asarray(v)
            self._sums[k] = v.copy() if self._sums[k] is None else np.asarray(self._sums[k] + v)

    def merge(self, other: Metric) -> Metric:
        """Add the state of ``other`` (same class and configuration) into this one."""
        if type(other) is not type(self) or other._config() != self._config():
            raise TypeError("can only merge metrics of the same class and configuration")
        if other._shape is not None:
            if self._shape is not None and other._shape != self._shape:
                raise ValueError(f"cannot merge shapes {self._shape} and {other._shape}")
            self._shape = other._shape
        self._add(**{k: v for k, v in other._sums.items() if v is not None})
        for k, v in other._cats.items():
            self._cats[k].extend(v)
        return self

    def _config(self) -> dict:
        skip = ("_sums", "_cats", "_shape", "process_group", "sync_on_compute")
        return {k: v for k, v in vars(self).items() if k not in skip}

    def _states(self) -> tuple[dict, dict]:
        cats = {k: (_concat(v) if v else None) for k, v in self._cats.items()}
        if self.sync_on_compute and is_distributed(self.process_group):
            sums, cats, shapes = sync_states(self._sums, cats, self.process_group, self._shape)
            known = {s for s in shapes if s is not None}
            if len(known) > 1:
                raise ValueError(f"processes were updated with different shapes: {known}")
            if known and self._shape is None:  # this process saw no data
                self._shape = known.pop()
            return sums, cats
        return dict(self._sums), cats

    def compute(self):
        """The metric over all data (of all processes when distributed, see module docs)."""
        sums, cats = self._states()
        if all(v is None for v in sums.values()) and all(v is None for v in cats.values()):
            raise RuntimeError(f"{type(self).__name__}.compute() called before any update()")
        return self._compute(sums, cats)

    def _compute(self, sums: dict, cats: dict):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self._config().items() if k[0] != "_")
        return f"{type(self).__name__}({cfg})"


def _concat(parts: list):
    if is_torch(parts[0]):
        return torch.cat([p if is_torch(p) else torch.as_tensor(p) for p in parts])
    return np.concatenate(parts)


def _copy(x):
    return x.clone() if is_torch(x) else np.array(x, copy=True)


def _all_true_like(x):
    return torch.ones_like(x, dtype=torch.bool) if is_torch(x) else np.ones(x.shape, bool)


class AveragePrecision(Metric):
    """Streaming :func:`average_precision` (exact) or :func:`binned_average_precision`.

    Exact mode (``n_bins=None``) keeps every score, label and mask (on the device they came
    from), i.e. memory proportional to the data; ``compute`` then equals the function on the
    concatenation. Binned mode keeps ``2 * n_labels * n_bins`` int64 counts and needs
    ``input_format``; :meth:`bounds` gives the certified interval of the exact AP.

    Examples
    --------
    >>> import numpy as np
    >>> m = AveragePrecision(average=None)
    >>> m.update(np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.2], [0.9, 0.8]]))
    >>> m.update(np.array([[1, 0], [0, 0]]), np.array([[0.5, 0.1], [0.1, 0.3]]))
    >>> m.compute()
    array([0.58333333, 1.        ])
    """

    def __init__(self, *, average="macro", empty_labels="exclude", n_bins=None,
                 input_format=None, **kwargs):  # fmt: skip
        check_option(average, "average", AVERAGES)
        check_option(empty_labels, "empty_labels", EMPTY_POLICIES)
        if n_bins is not None:
            n_bins = check_n_bins(n_bins)
            check_input_format(input_format)
            check_option(average, "average", (None, "macro", "micro", "weighted"))
        self.average, self.empty_labels = average, empty_labels
        self.n_bins, self.input_format = n_bins, input_format
        if n_bins is None:
            self._cat_names = ("y_true", "y_score", "valid")
        else:
            self._sum_names = ("pos", "tot")
        super().__init__(**kwargs)

    def update(self, y_true, y_score, *, ignore_mask=None) -> None:
        data = prepare(y_true, y_score, ignore_mask)
        self._check_shape(data)
        if self.n_bins is not None:
            pos, tot = binned_counts(data, self.input_format, self.n_bins)
            self._add(pos=pos, tot=tot)
            return
        self._cats["y_true"].append(_copy(data.y_true))
        self._cats["y_score"].append(_copy(data.y_score))
        self._cats["valid"].append(
            _all_true_like(data.y_true) if data.valid is None else _copy(data.valid)
        )

    def _compute(self, sums, cats, bounds=False):
        was_1d = self._shape[1]
        if self.n_bins is not None:
            return binned_ap_from_counts(
                sums["pos"], sums["tot"], self.average, self.empty_labels, was_1d, bounds
            )
        valid = cats["valid"]
        data = Prepared(
            cats["y_true"], cats["y_score"], None if bool(valid.all()) else valid, was_1d
        )
        return ap_from_prepared(data, self.average, self.empty_labels)

    def bounds(self):
        """Binned mode: ``(lower, upper)`` bounds of the exact AP (see the function)."""
        if self.n_bins is None:
            raise ValueError("bounds() needs the binned mode (n_bins=...)")
        sums, cats = self._states()
        return self._compute(sums, cats, bounds=True)[1:]


class _SampleMean(Metric):
    _sum_names = ("total", "count")
    _metric = ""

    def __init__(self, **kwargs):
        self.ties = kwargs.pop("ties", "pessimistic")
        super().__init__(**kwargs)

    def update(self, y_true, y_score, *, ignore_mask=None) -> None:
        data = prepare(y_true, y_score, ignore_mask, allow_1d=False)
        self._check_shape(data)
        vals, used = _rank.per_sample(data, self._metric, self.ties)
        self._add(total=np.float64(vals[used].sum()), count=np.int64(used.sum()))

    def _compute(self, sums, cats):
        if sums["count"] == 0:
            return float("nan")
        return float(sums["total"] / sums["count"])


class LabelRankingAveragePrecision(_SampleMean):
    """Streaming :func:`label_ranking_average_precision` (a sum and a count)."""

    _metric = "lrap"


class LabelRankingLoss(_SampleMean):
    """Streaming :func:`label_ranking_loss` (a sum and a count)."""

    _metric = "ranking_loss"


class CoverageError(_SampleMean):
    """Streaming :func:`coverage_error` (a sum and a count)."""

    _metric = "coverage"


class OneError(_SampleMean):
    """Streaming :func:`one_error` (a sum and a count)."""

    _metric = "one_error"

    def __init__(self, *, ties="pessimistic", **kwargs):
        check_option(ties, "ties", ("pessimistic", "average"))
        super().__init__(ties=ties, **kwargs)


class _Thresholded(Metric):
    _sum_names = ("tp", "fp", "fn", "n_used", "f1_sum", "f1_defined", "f1_undefined")

    def __init__(self, *, threshold=0.5, **kwargs):
        self.threshold = _thr.check_threshold(threshold)
        super().__init__(**kwargs)

    def update(self, y_true, y_score, *, ignore_mask=None) -> None:
        data = prepare(y_true, y_score, ignore_mask)
        self._check_shape(data)
        c = _thr.counts(data, self.threshold, 0.0)
        self._add(tp=c.tp, fp=c.fp, fn=c.fn, n_used=c.n_used, f1_sum=c.sample_f1_sum,
                  f1_defined=c.sample_defined, f1_undefined=c.sample_undefined)  # fmt: skip

    def _counts(self, s) -> _thr.Counts:
        return _thr.Counts(s["tp"], s["fp"], s["fn"], s["n_used"], float(s["f1_sum"]),
                           int(s["f1_defined"]), int(s["f1_undefined"]))  # fmt: skip


class HammingLoss(_Thresholded):
    """Streaming :func:`hamming_loss` (per-label confusion counts)."""

    def _compute(self, sums, cats):
        return _thr.hamming_from_counts(self._counts(sums))


class F1Score(_Thresholded):
    """Streaming :func:`f1_score` (per-label confusion counts and per-sample F1 sums)."""

    def __init__(self, *, average="macro", zero_division="warn", threshold=0.5, **kwargs):
        check_option(average, "average", _thr.F1_AVERAGES)
        self.average = average
        self.zero_division = _thr.check_zero_division(zero_division)
        super().__init__(threshold=threshold, **kwargs)

    def _compute(self, sums, cats):
        out = _thr.f1_from_counts(self._counts(sums), self.average, self.zero_division)
        return float(out[0]) if self._shape[1] and self.average is None else out


class CalibrationError(Metric):
    """Streaming :func:`calibration_error` with equal-width bins.

    Keeps the count, sum of probabilities and sum of labels of every (label, bin): memory
    ``3 * n_labels * n_bins`` floats whatever the amount of data (torchmetrics keeps every
    prediction). Equal-mass bins need all the data and are only offered by the function.
    :meth:`reliability_diagram` gives the diagram of the accumulated data.

    Examples
    --------
    >>> import numpy as np
    >>> m = CalibrationError(input_format="logits", n_bins=10)
    >>> for _ in range(3):  # e.g. once per validation batch
    ...     m.update(np.array([[1, 0], [0, 0]]), np.array([[2.0, -1.0], [0.5, -3.0]]))
    >>> round(m.compute(), 4)
    0.2645
    >>> m.reliability_diagram(label=0).count.sum()
    np.int64(6)
    """

    _sum_names = ("count", "sum_p", "sum_y")

    def __init__(self, *, input_format, n_bins=15, norm="l1", average="classwise",
                 right_closed=False, debias=False, **kwargs):  # fmt: skip
        self.input_format = check_input_format(input_format)
        self.n_bins = check_n_bins(n_bins)
        check_option(norm, "norm", _cal.NORMS)
        check_option(average, "average", _cal.CAL_AVERAGES)
        if debias and norm != "l2":
            raise ValueError(f"debias=True is defined for norm='l2' only; got norm={norm!r}")
        self.norm, self.average = norm, average
        self.right_closed, self.debias = bool(right_closed), bool(debias)
        super().__init__(**kwargs)

    def update(self, y_true, y_score, *, ignore_mask=None) -> None:
        data = prepare(y_true, y_score, ignore_mask)
        self._check_shape(data)
        st = _cal.bin_stats(Probabilities(data, self.input_format), data, n_bins=self.n_bins, binning="uniform",
                            right_closed=self.right_closed, pooled=False)  # fmt: skip
        self._add(count=st.count, sum_p=st.sum_p, sum_y=st.sum_y)

    def _compute(self, sums, cats):
        c, sp, sy = sums["count"], sums["sum_p"], sums["sum_y"]
        if self.average == "pooled" or self._shape[1]:
            c, sp, sy = c.sum(0, keepdims=True), sp.sum(0, keepdims=True), sy.sum(0, keepdims=True)
        per_row = _cal.ce_from_stats(c, sp, sy, self.norm, self.debias)
        if self.average == "pooled" or self._shape[1]:
            return float(per_row[0])
        return _cal._reduce(per_row, self.average, "classwise calibration error")

    def reliability_diagram(self, label=None) -> ReliabilityDiagram:
        """Diagram of the accumulated data, pooled (``label=None``) or for one label."""
        sums, _ = self._states()
        sel = slice(None) if label is None else slice(label, label + 1 if label != -1 else None)
        c, sp, sy = (sums[k][sel].sum(0) for k in ("count", "sum_p", "sum_y"))
        interior = uniform_interior_edges(self.n_bins, np.float64)
        edges = np.concatenate([[0.0], interior, [1.0]])
        return ReliabilityDiagram.from_sums(edges, c, sp, sy, self.right_closed)


class _LossMean(Metric):
    _sum_names = ("total", "n")
    _which = ""

    def __init__(self, *, input_format, average="classwise", **kwargs):
        self.input_format = check_input_format(input_format)
        check_option(average, "average", _cal.CAL_AVERAGES)
        self.average = average
        super().__init__(**kwargs)

    def update(self, y_true, y_score, *, ignore_mask=None) -> None:
        data = prepare(y_true, y_score, ignore_mask)
        self._check_shape(data)
        total, n = _cal.loss_sums(data, self.input_format, self._which)
        self._add(total=total, n=n)

    def _compute(self, sums, cats):
        return _cal.loss_from_sums(
            sums["total"], sums["n"], self.average, self._shape[1], self._which
        )


class BrierScore(_LossMean):
    """Streaming :func:`brier_score` (per-label sums and counts)."""

    _which = "brier"


class LogLoss(_LossMean):
    """Streaming :func:`log_loss` (per-label sums and counts)."""

    _which = "log"
