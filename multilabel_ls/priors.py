"""Label priors for the ``prior`` and ``prior_softmax`` strategies, estimated from training labels.

``prior`` smooths each label toward its own base rate, ``t_j = (1 - ε) y_j + ε π_j``, and needs
``π_j = P(y_j = 1)``; ``prior_softmax`` mixes the normalised target with the label-frequency
distribution, ``t = (1 - ε) y/n + ε π``, and needs ``π_j = count_j / Σ_k count_k``. Estimate
them on the training labels only (never on the evaluation split).
"""

from __future__ import annotations

import numpy as np
import torch

from .sparse import PositiveIndices

PRIOR_KINDS = ("sigmoid", "softmax")


def label_priors(
    labels: np.ndarray | torch.Tensor | PositiveIndices,
    *,
    kind: str = "sigmoid",
    ignore_mask: np.ndarray | torch.Tensor | None = None,
    pseudo_count: float = 0.0,
) -> torch.Tensor:
    """Per-label priors from a training label matrix.

    Parameters
    ----------
    labels:
        ``(n_samples, N)`` hard multi-hot labels (bool, or integer/float with values 0/1), as a
        NumPy array, a torch tensor, or :class:`~multilabel_ls.PositiveIndices`.
    kind:
        ``"sigmoid"`` (for strategy ``prior``): the base rate of every label among the rows
        where it is known,

        .. math:: \\pi_j = \\frac{\\sum_i y_{ij} + \\alpha}{m_j + 2\\alpha},

        with ``m_j`` the number of rows where label ``j`` is known and ``α`` the
        ``pseudo_count`` (add-α / Laplace smoothing; ``α = 0`` is the empirical rate).
        ``"softmax"`` (for strategy ``prior_softmax``): the label-frequency distribution

        .. math:: \\pi_j = \\frac{c_j + \\alpha}{\\sum_k (c_k + \\alpha)},
                  \\quad c_j = \\sum_i y_{ij},

        which sums to 1 (the multi-label analogue of unigram smoothing).
    ignore_mask:
        Optional bool ``(n_samples, N)``, True where a label is unknown; those entries are not
        counted.
    pseudo_count:
        ``α >= 0`` added to every count (see above).

    Returns
    -------
    torch.Tensor
        float64 vector of length ``N`` (on the CPU), ready for ``prior=``.

    Raises
    ------
    ValueError
        Non-binary or NaN labels, labels not 2-D, an unknown ``kind``, a negative
        ``pseudo_count``, a ``"sigmoid"`` label that is never known (its rate is undefined; pass
        ``pseudo_count > 0`` to get ½ for it), or (``"softmax"``) no positive label at all with
        ``pseudo_count = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    >>> label_priors(Y).tolist()
    [0.75, 0.25, 0.0]
    >>> label_priors(Y, kind="softmax").tolist()
    [0.75, 0.25, 0.0]
    >>> label_priors(Y, pseudo_count=1).tolist()
    [0.6666666666666666, 0.3333333333333333, 0.16666666666666666]
    """
    if kind not in PRIOR_KINDS:
        raise ValueError(f"kind must be one of {PRIOR_KINDS}, got {kind!r}")
    if (
        isinstance(pseudo_count, bool)
        or not isinstance(pseudo_count, (int, float))
        or not (pseudo_count >= 0 and np.isfinite(pseudo_count))
    ):
        raise ValueError(f"pseudo_count must be a finite number >= 0, got {pseudo_count!r}")
    if isinstance(labels, PositiveIndices):
        Y = labels.to_dense(torch.float64).cpu()
    else:
        Y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
        Y = Y.detach().cpu()
        if Y.is_complex():
            raise ValueError(f"labels must be real 0/1 values, got dtype {Y.dtype}")
        Y = Y.to(torch.float64)
    if Y.ndim != 2:
        raise ValueError(f"labels must be 2-D (n_samples, N), got shape {tuple(Y.shape)}")
    if torch.isnan(Y).any():
        raise ValueError("labels contain NaN")
    known = torch.ones_like(Y, dtype=torch.bool)
    if ignore_mask is not None:
        m = torch.as_tensor(
            np.asarray(ignore_mask) if not isinstance(ignore_mask, torch.Tensor) else ignore_mask
        )
        if m.dtype != torch.bool or tuple(m.shape) != tuple(Y.shape):
            raise ValueError(
                f"ignore_mask must be a bool array of shape {tuple(Y.shape)}, got "
                f"{m.dtype} {tuple(m.shape)}"
            )
        known = ~m.cpu()
    bad = known & (Y != 0) & (Y != 1)
    if bad.any():
        i, j = (int(v) for v in bad.nonzero()[0])
        raise ValueError(f"labels must be 0/1, found labels[{i}, {j}] = {Y[i, j].item()!r}")
    Y = Y * known
    counts = Y.sum(0)
    a = float(pseudo_count)
    if kind == "sigmoid":
        m = known.sum(0).to(torch.float64)
        never = (m + 2 * a) == 0
        if never.any():
            raise ValueError(
                f"label {int(never.nonzero()[0])} is never known: its base rate is undefined "
                "(pass pseudo_count > 0)"
            )
        return (counts + a) / (m + 2 * a)
    total = float((counts + a).sum())
    if total == 0:
        raise ValueError("no positive label at all: the label-frequency prior is undefined")
    return (counts + a) / total
