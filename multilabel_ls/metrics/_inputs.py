"""Validation and formatting shared by every metric (the first link of the one-core chain).

Everything a public metric function or a streaming ``update`` receives goes through
:func:`prepare`, which

* accepts numpy arrays, torch tensors (CPU or CUDA) and nested lists;
* keeps CUDA tensors where they are (a NumPy ``y_true`` next to a CUDA ``y_score`` is moved
  to the score's device, never the other way round) and turns CPU tensors into zero-copy
  NumPy views, because the NumPy kernels are the fast ones on a CPU;
* checks shapes, that ``y_true`` holds hard 0/1 labels, that scores hold no NaN and, for
  ``input_format="probs"``, that probabilities lie in [0, 1], raising an error that names the
  argument and the first offending value;
* applies the ``ignore_mask`` (``True`` = unknown label, excluded): masked entries are never
  validated, so they may hold ``-1``, NaN or anything else.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import expit

Array = Any  # np.ndarray | torch.Tensor

_FORCE_TORCH = False


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for part of the input and a documented value was used instead."""


@contextlib.contextmanager
def force_torch_backend():
    """Run CPU tensors through the torch kernels (the CUDA code path) instead of NumPy.

    For tests: it lets the code that runs on GPUs be exercised on a CPU-only machine.
    """
    global _FORCE_TORCH
    old, _FORCE_TORCH = _FORCE_TORCH, True
    try:
        yield
    finally:
        _FORCE_TORCH = old


def is_torch(x: Array) -> bool:
    return isinstance(x, torch.Tensor)


def warn(message: str) -> None:
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


# ----------------------------------------------------------------------------- options


def check_option(value: Any, name: str, allowed: tuple) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``allowed`` (compared by ``==``)."""
    for a in allowed:
        if (value is None and a is None) or (
            value is not None and a is not None and type(value) is type(a) and value == a
        ):
            return
    raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_n_bins(n_bins: Any, name: str = "n_bins") -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)):
        raise TypeError(f"{name} must be an int >= 1; got {n_bins!r}")
    if n_bins < 1:
        raise ValueError(f"{name} must be >= 1; got {n_bins!r}")
    return int(n_bins)


def check_input_format(input_format: Any) -> str:
    check_option(input_format, "input_format", ("probs", "logits"))
    return input_format


# ----------------------------------------------------------------------------- arrays


def _as_array(x: Any, name: str) -> Array:
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.is_complex():
            raise TypeError(f"{name} must be real; got a tensor of dtype {x.dtype}")
        if x.device.type == "cpu" and not _FORCE_TORCH:
            if x.dtype in (torch.bfloat16, torch.float16):
                x = x.float()  # exact; NumPy has no bfloat16 and slow float16 kernels
            return x.resolve_conj().resolve_neg().numpy()
        return x
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (list, tuple, int, float, bool, np.generic)):
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:  # ragged nested lists, a tensor that fails, ...
            raise ValueError(
                f"{name} must be a rectangular array (every row of the same length); "
                f"a nested list could not be converted: {e}"
            ) from e
    else:
        raise TypeError(f"{name} must be a numpy array or a torch tensor; got {type(x).__name__}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers or booleans; got dtype {arr.dtype}")
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)  # exact
    if _FORCE_TORCH:
        return torch.from_numpy(np.ascontiguousarray(arr))
    return arr


def _first_index(bad: Array) -> tuple:
    if is_torch(bad):
        idx = torch.nonzero(bad)[0].tolist()
    else:
        idx = np.argwhere(bad)[0].tolist()
    return tuple(int(i) for i in idx)


def _fmt_index(idx: tuple) -> str:
    return f"index {idx[0]}" if len(idx) == 1 else f"row {idx[0]}, column {idx[1]}"


@dataclass
class Prepared:
    """Validated inputs on one backend, always 2-D ``(n_samples, n_labels)``."""

    y_true: Array  # bool; False wherever the entry is masked
    y_score: Array  # real; values at masked entries are arbitrary
    valid: Array | None  # bool, True = entry is used; None = no mask
    was_1d: bool
    nonneg: bool = False  # every score is known to be >= 0 (lets AP use 32-bit keys at once)

    @property
    def torch(self) -> bool:
        return is_torch(self.y_score)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.y_score.shape)


def _to_common_backend(arrays: list, names: list) -> list:
    tensors = [a for a in arrays if is_torch(a)]
    if not tensors:
        return arrays
    device = tensors[0].device
    for a, n in zip(arrays, names, strict=True):
        if is_torch(a) and a.device != device:
            raise ValueError(f"{n} is on {a.device} but {names[0]} is on {device}")
    return [a if is_torch(a) else torch.as_tensor(np.asarray(a), device=device) for a in arrays]


def check_targets(y: Array, valid: Array | None, name: str = "y_true") -> Array:
    """Return ``y`` as a bool array; raise unless every used entry is exactly 0 or 1."""
    if is_torch(y):
        if y.dtype == torch.bool:
            out = y
        else:
            ok = (y == 0) | (y == 1)
            bad = ~ok if valid is None else ~ok & valid
            if bool(bad.any()):
                _raise_not_binary(y, bad, name)
            out = y == 1
        return out if valid is None else out & valid
    if y.dtype == np.bool_:
        out = y
    else:
        if y.dtype.kind in "iu":
            ok_all = valid is None and y.size and (y.min() >= 0) and (y.max() <= 1)
            if ok_all:
                out = y.astype(bool)
                return out
        ok = (y == 0) | (y == 1)
        bad = ~ok if valid is None else ~ok & valid
        if bad.any():
            _raise_not_binary(y, bad, name)
        out = y == 1
    return out if valid is None else out & valid


def _raise_not_binary(y: Array, bad: Array, name: str) -> None:
    idx = _first_index(bad)
    value = float(y[idx])
    raise ValueError(
        f"{name} must contain only 0 and 1 (hard labels), but {name}[{', '.join(map(str, idx))}]"
        f" = {value!r}. Soft or label-smoothed targets cannot be used for evaluation: pass the"
        " original binary labels (or mark unknown entries with ignore_mask)."
    )


def check_scores(s: Array, valid: Array | None, name: str = "y_score") -> Array:
    """Raise ``ValueError`` if a used entry of ``s`` is NaN. ``±inf`` is allowed."""
    if is_torch(s):
        if s.dtype == torch.bool:
            return s.to(torch.float32)
        if not s.is_floating_point():
            return s.to(torch.float64)
        if valid is None and not bool(torch.isnan(s.min())):  # min propagates NaN
            return s
        nan = torch.isnan(s)
        if valid is not None:
            nan &= valid
        if bool(nan.any()):
            raise ValueError(f"{name} contains NaN at {_fmt_index(_first_index(nan))}")
        return s
    if s.dtype.kind in "biu":
        return s.astype(np.float64 if s.dtype.kind != "b" else np.float32)
    if valid is None:
        if not np.isnan(s.min()):  # fast path: min propagates NaN
            return s
        nan = np.isnan(s)
    else:
        nan = np.isnan(s) & valid
    if nan.any():
        raise ValueError(f"{name} contains NaN at {_fmt_index(_first_index(nan))}")
    return s


def check_probs(p: Array, valid: Array | None, name: str = "y_score") -> None:
    """Raise ``ValueError`` unless every used entry of ``p`` lies in [0, 1]."""
    if is_torch(p):
        bad = (p < 0) | (p > 1)
        if valid is not None:
            bad &= valid
        any_bad = bool(bad.any())
    else:
        if valid is None and p.size and p.min() >= 0 and p.max() <= 1:
            return
        bad = (p < 0) | (p > 1)
        if valid is not None:
            bad &= valid
        any_bad = bool(bad.any())
    if any_bad:
        idx = _first_index(bad)
        raise ValueError(
            f"{name} must hold probabilities in [0, 1] (input_format='probs'), but "
            f"{name}[{', '.join(map(str, idx))}] = {float(p[idx])!r}; pass "
            "input_format='logits' if these are logits"
        )


def prepare(
    y_true: Any,
    y_score: Any,
    ignore_mask: Any = None,
    *,
    score_name: str = "y_score",
    allow_1d: bool = True,
) -> Prepared:
    """Validate and format one batch (see the module docstring)."""
    yt = _as_array(y_true, "y_true")
    ys = _as_array(y_score, score_name)
    arrays, names = [ys, yt], [score_name, "y_true"]
    if ignore_mask is not None:
        arrays.append(_as_array(ignore_mask, "ignore_mask"))
        names.append("ignore_mask")
    arrays = _to_common_backend(arrays, names)
    ys, yt = arrays[0], arrays[1]
    mask = arrays[2] if ignore_mask is not None else None

    if tuple(yt.shape) != tuple(ys.shape):
        raise ValueError(
            f"y_true and {score_name} must have the same shape; got {tuple(yt.shape)} and "
            f"{tuple(ys.shape)}"
        )
    if mask is not None and tuple(mask.shape) != tuple(ys.shape):
        raise ValueError(
            f"ignore_mask must have the shape of {score_name} {tuple(ys.shape)}; "
            f"got {tuple(mask.shape)}"
        )
    ndim = len(ys.shape)
    if ndim == 1 and not allow_1d:
        raise ValueError(
            f"y_true and {score_name} must be 2-D (n_samples, n_labels) for this metric; "
            f"got shape {tuple(ys.shape)}"
        )
    if ndim not in (1, 2):
        raise ValueError(
            f"y_true and {score_name} must be 1-D (n_samples,) or 2-D (n_samples, n_labels); "
            f"got shape {tuple(ys.shape)}"
        )
    if ys.shape[0] == 0 or (ndim == 2 and ys.shape[1] == 0):
        raise ValueError(f"{score_name} is empty (shape {tuple(ys.shape)})")
    was_1d = ndim == 1
    if was_1d:
        ys, yt = ys.reshape(-1, 1), yt.reshape(-1, 1)
        mask = None if mask is None else mask.reshape(-1, 1)

    valid = None
    if mask is not None:
        if (is_torch(mask) and mask.dtype != torch.bool) or (
            not is_torch(mask) and mask.dtype != np.bool_
        ):
            raise TypeError(f"ignore_mask must be a boolean array; got dtype {mask.dtype}")
        valid = ~mask
    yt = check_targets(yt, valid)
    ys = check_scores(ys, valid, score_name)
    nonneg = not is_torch(ys) and valid is None and bool(ys.min() >= 0)
    return Prepared(yt, ys, valid, was_1d, nonneg)


class Probabilities:
    """Probabilities of validated scores, produced chunk by chunk (``probs[rows]``).

    ``input_format="probs"``: the scores are checked to lie in [0, 1] once, then returned as
    they are (float16 / bfloat16 tensors widened to float32, as on the NumPy path).
    ``"logits"``: a float64 sigmoid in the overflow-free form (``scipy.special.expit``,
    ``torch.sigmoid``) is applied to each chunk, so a large matrix of logits is never copied
    whole; ``±inf`` map to 1 and 0. Never guessed from the value range.
    """

    def __init__(self, data: Prepared, input_format: str, name: str = "y_score"):
        check_input_format(input_format)
        self.scores, self.logits = data.y_score, input_format == "logits"
        if not self.logits:
            check_probs(self.scores, data.valid, name)
            if is_torch(self.scores) and self.scores.dtype in (torch.float16, torch.bfloat16):
                self.scores = self.scores.float()
        self.shape = tuple(self.scores.shape)
        self.dtype = np.float64 if self.logits else self.scores.dtype  # bin edges round to it
        if self.logits and is_torch(self.scores):
            self.dtype = torch.float64

    def __getitem__(self, rows) -> Array:
        s = self.scores[rows]
        if not self.logits:
            return s
        if is_torch(s):
            return torch.sigmoid(s.to(torch.float64))
        return expit(s.astype(np.float64))

    def full(self) -> Array:
        return self[:]


def to_numpy(x: Array) -> np.ndarray:
    """Host copy of a (small) result array."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def per_row_valid_count(valid: Array | None, n: int, axis: int) -> Any:
    """Number of used entries along ``axis`` (an int if there is no mask)."""
    if valid is None:
        return n
    return valid.sum(axis) if not is_torch(valid) else valid.sum(dim=axis)
